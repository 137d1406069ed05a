/*
 * eip712.c: EIP-712 hashing of Assay's three statements (PROTOCOL.md
 * section 3) and of the operator's ProviderDecision (an addition beside
 * them, docs/escrow.md "Approved registry").
 *
 * encodeData per EIP-712: address -> 12 zero bytes || 20 bytes; bytes32
 * as is; uintN -> 32-byte big-endian; string -> keccak256 of its UTF-8
 * bytes.  hashStruct = keccak256(typeHash || encodeData).  The strings are
 * validated before anything is hashed, so nothing malformed can be given
 * an id or a signature.
 */
#include <string.h>

#include "internal.h"
#include "banned.h"

const char RCPT_DOMAIN_TYPE[] =
	"EIP712Domain(string name,string version,uint256 chainId,"
	"address verifyingContract)";
const char RCPT_JOB_TYPE[] =
	"JobSpec(address customer,address provider,string kernel,"
	"bytes32 kernelHash,string params,bytes32 inputRoot,uint64 inputSize,"
	"uint256 maxPrice,uint64 deadline,uint64 nonce)";
const char RCPT_RECEIPT_TYPE[] =
	"Receipt(bytes32 job,bytes32 kernelHash,bytes32 inputRoot,"
	"uint64 inputSize,bytes32 outputRoot,uint64 outputSize,uint256 price,"
	"string device,uint64 startedAt,uint64 finishedAt,address provider)";
const char RCPT_ATTESTATION_TYPE[] =
	"Attestation(bytes32 receipt,bytes32 outputRoot,uint8 verdict,"
	"address validator)";

const char RCPT_DECISION_TYPE[] =
	"ProviderDecision(address operator,address provider,string action,"
	"string organisation,string contact,uint64 expires,uint64 nonce,"
	"uint64 issuedAt)";

/* keccak256 of each type string above, as Solidity code would hard-code
 * them; rcpt_eip712_selfcheck() (run by the tests) recomputes them. */
static const uint8_t DOMAIN_TYPEHASH[32] = {
	0x8b, 0x73, 0xc3, 0xc6, 0x9b, 0xb8, 0xfe, 0x3d, 0x51, 0x2e, 0xcc, 0x4c, 0xf7, 0x59, 0xcc, 0x79,
	0x23, 0x9f, 0x7b, 0x17, 0x9b, 0x0f, 0xfa, 0xca, 0xa9, 0xa7, 0x5d, 0x52, 0x2b, 0x39, 0x40, 0x0f,
};
static const uint8_t JOB_TYPEHASH[32] = {
	0xd4, 0x9c, 0x93, 0x85, 0xa8, 0x06, 0x80, 0x11, 0x48, 0x68, 0xdf, 0x83, 0xff, 0x2c, 0x43, 0x20,
	0x3a, 0x1c, 0x15, 0x41, 0x42, 0x08, 0x33, 0x6c, 0x98, 0xce, 0x85, 0xcb, 0x2e, 0x7e, 0x7b, 0x27,
};
static const uint8_t RECEIPT_TYPEHASH[32] = {
	0xab, 0x3e, 0x65, 0x09, 0x18, 0x27, 0x69, 0xa5, 0x53, 0xda, 0xf6, 0xef, 0x8b, 0x03, 0xf7, 0x27,
	0x52, 0x72, 0xe1, 0x61, 0x2b, 0xde, 0x4c, 0xb9, 0xac, 0x8c, 0xf9, 0x8f, 0x24, 0xbc, 0xf1, 0x8e,
};
static const uint8_t ATTESTATION_TYPEHASH[32] = {
	0xde, 0x9c, 0xe9, 0x9d, 0xe2, 0x27, 0x67, 0x6d, 0x7f, 0xd2, 0x44, 0xcb, 0x25, 0x92, 0x4e, 0xb6,
	0x23, 0x3f, 0x93, 0x65, 0xb4, 0xfe, 0xaf, 0xb7, 0x39, 0x49, 0x12, 0x89, 0x98, 0xfb, 0xbd, 0x52,
};

static const uint8_t DECISION_TYPEHASH[32] = {
	0x1a, 0x0e, 0x35, 0x44, 0xc0, 0x82, 0xc4, 0xf4, 0xfe, 0xea, 0x8f, 0x8f, 0x11, 0xf1, 0xd3, 0x0a,
	0x6c, 0x6b, 0xc6, 0x0c, 0x5b, 0x3a, 0xde, 0xcb, 0xad, 0xf3, 0xc3, 0x09, 0x71, 0xd1, 0xa1, 0xce,
};

int rcpt_eip712_selfcheck(void)
{
	static const struct {
		const char *type;
		const uint8_t *hash;
	} t[] = {
		{ RCPT_DOMAIN_TYPE, DOMAIN_TYPEHASH }, { RCPT_JOB_TYPE, JOB_TYPEHASH },
		{ RCPT_RECEIPT_TYPE, RECEIPT_TYPEHASH }, { RCPT_ATTESTATION_TYPE, ATTESTATION_TYPEHASH },
		{ RCPT_DECISION_TYPE, DECISION_TYPEHASH },
	};
	uint8_t h[32];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rcpt_keccak256(h, t[i].type, strlen(t[i].type));
		if (memcmp(h, t[i].hash, 32) != 0)
			return -1;
	}
	return 0;
}

/* Length of the UTF-8 sequence at s (0 when invalid): RFC 3629, no
 * overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

enum rcpt_err rcpt_check_text(struct rcpt_diag *diag, const char *what,
			      const char *s, size_t max, int allow_empty)
{
	size_t len, i = 0;

	if (!s)
		return RCPT_ERR_ARG;
	len = strnlen(s, max + 1);
	if (len > max) {
		rcpt_diagf(diag, "%s: longer than %zu bytes", what, max);
		return RCPT_ERR_FIELD;
	}
	if (len == 0 && !allow_empty) {
		rcpt_diagf(diag, "%s: empty", what);
		return RCPT_ERR_FIELD;
	}
	while (i < len) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t n;
		if (*p < 0x20 || *p == 0x7f) {
			rcpt_diagf(diag, "%s: control character at byte %zu", what, i);
			return RCPT_ERR_FIELD;
		}
		n = utf8_seq(p, len - i);
		if (n == 0) {
			rcpt_diagf(diag, "%s: invalid UTF-8 at byte %zu", what, i);
			return RCPT_ERR_FIELD;
		}
		i += n;
	}
	return RCPT_OK;
}

/* kernel is name@version: [A-Za-z0-9_.-]+ '@' [A-Za-z0-9_.-]+ */
enum rcpt_err rcpt_check_kernel(struct rcpt_diag *diag, const char *what,
				const char *k)
{
	size_t len = strnlen(k, RCPT_KERNEL_BYTES_MAX + 1), at = 0, ats = 0;

	if (len == 0 || len > RCPT_KERNEL_BYTES_MAX)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];
		if (c == '@') {
			ats++;
			at = i;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '_' || c == '.' ||
			     c == '-')) {
			goto bad;
		}
	}
	if (ats != 1 || at == 0 || at == len - 1)
		goto bad;
	return RCPT_OK;
bad:
	rcpt_diagf(diag, "%s: not name@version (at most %d bytes of "
		   "[A-Za-z0-9_.-] around one '@')", what, RCPT_KERNEL_BYTES_MAX);
	return RCPT_ERR_FIELD;
}

static void put_string(struct rcpt_keccak *k, const char *s)
{
	uint8_t h[32];
	rcpt_keccak256(h, s, strlen(s));
	rcpt_keccak_update(k, h, 32);
}

static void put_u64(struct rcpt_keccak *k, uint64_t v)
{
	uint8_t w[32];
	rcpt_word_u64(w, v);
	rcpt_keccak_update(k, w, 32);
}

static void put_address(struct rcpt_keccak *k, const uint8_t a[RCPT_ADDR_BYTES])
{
	uint8_t w[32];
	rcpt_word_address(w, a);
	rcpt_keccak_update(k, w, 32);
}

static void start(struct rcpt_keccak *k, const uint8_t type_hash[32])
{
	rcpt_keccak_init(k);
	rcpt_keccak_update(k, type_hash, 32);
}

void rcpt_domain_assay(struct rcpt_domain *out, uint64_t chain_id,
		       const uint8_t verifying_contract[RCPT_ADDR_BYTES])
{
	memset(out, 0, sizeof(*out));
	memcpy(out->name, "Assay", sizeof("Assay"));
	memcpy(out->version, "1", sizeof("1"));
	out->chain_id = chain_id;
	memcpy(out->verifying_contract, verifying_contract, RCPT_ADDR_BYTES);
}

enum rcpt_err rcpt_domain_separator(uint8_t out[RCPT_HASH_BYTES],
				    const struct rcpt_domain *d)
{
	struct rcpt_keccak k;

	if (!out || !d)
		return RCPT_ERR_ARG;
	if (rcpt_check_text(NULL, "domain.name", d->name,
			    RCPT_DOMAIN_STRING_BYTES_MAX, 1) ||
	    rcpt_check_text(NULL, "domain.version", d->version,
			    RCPT_DOMAIN_STRING_BYTES_MAX, 1))
		return RCPT_ERR_FIELD;
	start(&k, DOMAIN_TYPEHASH);
	put_string(&k, d->name);
	put_string(&k, d->version);
	put_u64(&k, d->chain_id);
	put_address(&k, d->verifying_contract);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

enum rcpt_err rcpt_job_hash_struct(uint8_t out[RCPT_HASH_BYTES],
				   struct rcpt_diag *diag,
				   const struct rcpt_job *j)
{
	struct rcpt_keccak k;
	enum rcpt_err rc;

	if (!out || !j)
		return RCPT_ERR_ARG;
	rc = rcpt_check_kernel(diag, "kernel", j->kernel);
	if (!rc)
		rc = rcpt_check_text(diag, "params", j->params,
				     RCPT_PARAMS_BYTES_MAX, 0);
	if (rc)
		return rc;
	if (j->input_size > RCPT_JSON_UINT_MAX || j->deadline > RCPT_JSON_UINT_MAX ||
	    j->nonce > RCPT_JSON_UINT_MAX) {
		rcpt_diagf(diag, "job: integer above 2^53 - 1");
		return RCPT_ERR_FIELD;
	}
	start(&k, JOB_TYPEHASH);
	put_address(&k, j->customer);
	put_address(&k, j->provider);
	put_string(&k, j->kernel);
	rcpt_keccak_update(&k, j->kernel_hash, 32);
	put_string(&k, j->params);
	rcpt_keccak_update(&k, j->input_root, 32);
	put_u64(&k, j->input_size);
	rcpt_keccak_update(&k, j->max_price.be, 32);
	put_u64(&k, j->deadline);
	put_u64(&k, j->nonce);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

enum rcpt_err rcpt_receipt_hash_struct(uint8_t out[RCPT_HASH_BYTES],
				       struct rcpt_diag *diag,
				       const struct rcpt_receipt *r)
{
	struct rcpt_keccak k;
	enum rcpt_err rc;

	if (!out || !r)
		return RCPT_ERR_ARG;
	rc = rcpt_check_text(diag, "device", r->device, RCPT_DEVICE_BYTES_MAX, 0);
	if (rc)
		return rc;
	if (r->input_size > RCPT_JSON_UINT_MAX || r->output_size > RCPT_JSON_UINT_MAX ||
	    r->started_at_ms > RCPT_JSON_UINT_MAX ||
	    r->finished_at_ms > RCPT_JSON_UINT_MAX) {
		rcpt_diagf(diag, "receipt: integer above 2^53 - 1");
		return RCPT_ERR_FIELD;
	}
	start(&k, RECEIPT_TYPEHASH);
	rcpt_keccak_update(&k, r->job, 32);
	rcpt_keccak_update(&k, r->kernel_hash, 32);
	rcpt_keccak_update(&k, r->input_root, 32);
	put_u64(&k, r->input_size);
	rcpt_keccak_update(&k, r->output_root, 32);
	put_u64(&k, r->output_size);
	rcpt_keccak_update(&k, r->price.be, 32);
	put_string(&k, r->device);
	put_u64(&k, r->started_at_ms);
	put_u64(&k, r->finished_at_ms);
	put_address(&k, r->provider);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

enum rcpt_err rcpt_attestation_hash_struct(uint8_t out[RCPT_HASH_BYTES],
					   struct rcpt_diag *diag,
					   const struct rcpt_attestation *a)
{
	struct rcpt_keccak k;

	if (!out || !a)
		return RCPT_ERR_ARG;
	if (a->verdict != RCPT_VERDICT_MATCH && a->verdict != RCPT_VERDICT_DIFFERS) {
		rcpt_diagf(diag, "verdict: %u is neither 1 (match) nor 2 (differs)",
			   a->verdict);
		return RCPT_ERR_FIELD;
	}
	start(&k, ATTESTATION_TYPEHASH);
	rcpt_keccak_update(&k, a->receipt, 32);
	rcpt_keccak_update(&k, a->output_root, 32);
	put_u64(&k, a->verdict);
	put_address(&k, a->validator);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

/* One of the three actions (a closed set, so that a wallet shows the
 * operator a word the escrow knows). */
static int decision_action_known(const char *a)
{
	return strcmp(a, RCPT_DECISION_APPROVE) == 0 || strcmp(a, RCPT_DECISION_SUSPEND) == 0 ||
	       strcmp(a, RCPT_DECISION_REVOKE) == 0;
}

enum rcpt_err rcpt_decision_hash_struct(uint8_t out[RCPT_HASH_BYTES],
					struct rcpt_diag *diag,
					const struct rcpt_decision *d)
{
	struct rcpt_keccak k;
	enum rcpt_err rc;

	if (!out || !d)
		return RCPT_ERR_ARG;
	if (strnlen(d->action, sizeof(d->action)) == sizeof(d->action) ||
	    !decision_action_known(d->action)) {
		rcpt_diagf(diag, "action: not approve, suspend or revoke");
		return RCPT_ERR_FIELD;
	}
	rc = rcpt_check_text(diag, "organisation", d->organisation,
			     RCPT_ORGANISATION_BYTES_MAX, 1);
	if (!rc)
		rc = rcpt_check_text(diag, "contact", d->contact, RCPT_CONTACT_BYTES_MAX, 1);
	if (rc)
		return rc;
	if (d->expires > RCPT_JSON_UINT_MAX || d->nonce > RCPT_JSON_UINT_MAX ||
	    d->issued_at > RCPT_JSON_UINT_MAX) {
		rcpt_diagf(diag, "decision: integer above 2^53 - 1");
		return RCPT_ERR_FIELD;
	}
	start(&k, DECISION_TYPEHASH);
	put_address(&k, d->operator_addr);
	put_address(&k, d->provider);
	put_string(&k, d->action);
	put_string(&k, d->organisation);
	put_string(&k, d->contact);
	put_u64(&k, d->expires);
	put_u64(&k, d->nonce);
	put_u64(&k, d->issued_at);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

void rcpt_eip712_digest(uint8_t out[RCPT_HASH_BYTES],
			const uint8_t domain_separator[RCPT_HASH_BYTES],
			const uint8_t hash_struct[RCPT_HASH_BYTES])
{
	struct rcpt_keccak k;
	static const uint8_t magic[2] = { 0x19, 0x01 };

	rcpt_keccak_init(&k);
	rcpt_keccak_update(&k, magic, 2);
	rcpt_keccak_update(&k, domain_separator, 32);
	rcpt_keccak_update(&k, hash_struct, 32);
	rcpt_keccak_final(&k, out);
}

enum rcpt_err rcpt_job_id(uint8_t out[RCPT_HASH_BYTES], struct rcpt_diag *diag,
			  const struct rcpt_domain *d, const struct rcpt_job *job)
{
	uint8_t ds[32], hs[32];
	enum rcpt_err rc;

	if (!out || !d || !job)
		return RCPT_ERR_ARG;
	rc = rcpt_domain_separator(ds, d);
	if (!rc)
		rc = rcpt_job_hash_struct(hs, diag, job);
	if (!rc)
		rcpt_eip712_digest(out, ds, hs);
	return rc;
}

enum rcpt_err rcpt_receipt_id(uint8_t out[RCPT_HASH_BYTES], struct rcpt_diag *diag,
			      const struct rcpt_domain *d,
			      const struct rcpt_receipt *r)
{
	uint8_t ds[32], hs[32];
	enum rcpt_err rc;

	if (!out || !d || !r)
		return RCPT_ERR_ARG;
	rc = rcpt_domain_separator(ds, d);
	if (!rc)
		rc = rcpt_receipt_hash_struct(hs, diag, r);
	if (!rc)
		rcpt_eip712_digest(out, ds, hs);
	return rc;
}

enum rcpt_err rcpt_attestation_digest(uint8_t out[RCPT_HASH_BYTES],
				      struct rcpt_diag *diag,
				      const struct rcpt_domain *d,
				      const struct rcpt_attestation *a)
{
	uint8_t ds[32], hs[32];
	enum rcpt_err rc;

	if (!out || !d || !a)
		return RCPT_ERR_ARG;
	rc = rcpt_domain_separator(ds, d);
	if (!rc)
		rc = rcpt_attestation_hash_struct(hs, diag, a);
	if (!rc)
		rcpt_eip712_digest(out, ds, hs);
	return rc;
}

enum rcpt_err rcpt_decision_digest(uint8_t out[RCPT_HASH_BYTES], struct rcpt_diag *diag,
				   const struct rcpt_domain *dom,
				   const struct rcpt_decision *d)
{
	uint8_t ds[32], hs[32];
	enum rcpt_err rc;

	if (!out || !dom || !d)
		return RCPT_ERR_ARG;
	rc = rcpt_domain_separator(ds, dom);
	if (!rc)
		rc = rcpt_decision_hash_struct(hs, diag, d);
	if (!rc)
		rcpt_eip712_digest(out, ds, hs);
	return rc;
}
