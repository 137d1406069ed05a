/*
 * receipts.h: the one public header of Assay's receipts library.
 *
 * Everything that signs or checks a statement links this library: the
 * provider, the validator, the escrow, the `assay` client and any third
 * party.  It follows shared/PROTOCOL.md to the byte.  It talks to no
 * network and keeps no state between calls: every function is a pure
 * function of its arguments (plus the OS CSPRNG for key generation and
 * the file system for the functions that say so), and all of them are
 * safe to call from several threads at once.
 *
 * Conventions (libsecp256k1 style):
 * - outputs come before inputs; a length follows its pointer;
 * - fixed-size things (hashes, addresses, keys, signatures) are arrays
 *   the caller owns; nothing returned here needs freeing unless the
 *   function says so;
 * - every function that can fail returns an `enum rcpt_err` and is marked
 *   warn_unused_result; RCPT_OK is 0;
 * - a `struct rcpt_diag *` argument may be NULL; when given, it receives a
 *   one-line, lower-case message naming what failed (never a secret);
 * - no pointer argument may be NULL unless its comment says so: passing
 *   NULL is misuse and returns RCPT_ERR_ARG.
 */
#ifndef ASSAY_RECEIPTS_H
#define ASSAY_RECEIPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rcpt_limits.h"

#if defined(__GNUC__)
#define RCPT_WUR __attribute__((warn_unused_result))
#else
#define RCPT_WUR
#endif

#define RCPT_HASH_BYTES 32
#define RCPT_ADDR_BYTES 20
#define RCPT_SECKEY_BYTES 32
#define RCPT_SIG_BYTES 65
/* "0x" + 40 hex digits + NUL */
#define RCPT_ADDR_HEX_BYTES 43
/* "0x" + 64 hex digits + NUL */
#define RCPT_HASH_HEX_BYTES 67
/* "0x" + 130 hex digits + NUL */
#define RCPT_SIG_HEX_BYTES 133
/* 78 decimal digits hold 2^256 - 1, + NUL */
#define RCPT_U256_DEC_BYTES 79
/* The Merkle chunk of PROTOCOL.md section 1. */
#define RCPT_CHUNK_BYTES 65536u
/* A Merkle path over at most 2^64 leaves has at most 64 siblings. */
#define RCPT_PROOF_HASHES_MAX 64
/* Largest integer a JSON uint64 may carry (PROTOCOL.md section 4). */
#define RCPT_JSON_UINT_MAX 9007199254740991ull

/*
 * Errors.  Operating errors only: what a peer, a file or the user can
 * cause.  Each has a stable string (rcpt_strerror) and a stable
 * identifier (rcpt_errname) that tests and scripts may match.
 */
enum rcpt_err {
	RCPT_OK = 0,
	RCPT_ERR_ARG,              /* misuse by the caller */
	RCPT_ERR_NOMEM,            /* allocation failed */
	RCPT_ERR_IO,               /* a file could not be read or written */
	RCPT_ERR_RANDOM,           /* the OS CSPRNG failed */
	RCPT_ERR_CRYPTO,           /* OpenSSL or libsecp256k1 failed */
	RCPT_ERR_TOO_LARGE,        /* an input is over its limit */
	RCPT_ERR_HEX,              /* not 0x-prefixed hex of the right length */
	RCPT_ERR_CHECKSUM,         /* mixed-case address with a bad EIP-55 checksum */
	RCPT_ERR_DECIMAL,          /* not a canonical uint256 decimal string */
	RCPT_ERR_KEY_FORMAT,       /* key file is not 0x + 64 hex digits + newline */
	RCPT_ERR_KEY_INVALID,      /* zero or >= the curve order */
	RCPT_ERR_KEY_PERMS,        /* key file readable by group or others */
	RCPT_ERR_KEY_EXISTS,       /* refusing to overwrite a key file */
	RCPT_ERR_SIG_FORMAT,       /* signature not 65 bytes or r/s out of range */
	RCPT_ERR_SIG_V,            /* v not in {0, 1, 27, 28} */
	RCPT_ERR_SIG_HIGH_S,       /* s above n/2 (EIP-2) */
	RCPT_ERR_SIG_RECOVER,      /* no public key recovers from it */
	RCPT_ERR_JSON,             /* malformed or non-strict JSON (see diag) */
	RCPT_ERR_FIELD,            /* a field has a bad value (see diag) */
	RCPT_ERR_PROOF,            /* a Merkle inclusion proof does not verify */
	/* Bundle checks, in the order rcpt_bundle_verify makes them. */
	RCPT_ERR_DOMAIN,           /* domain name/version is not Assay/1, or not the expected domain */
	RCPT_ERR_JOB_SIG,          /* job signature unusable (see diag for why) */
	RCPT_ERR_JOB_SIGNER,       /* job signer is not job.customer */
	RCPT_ERR_RECEIPT_SIG,      /* receipt signature unusable */
	RCPT_ERR_RECEIPT_SIGNER,   /* receipt signer is not receipt.provider */
	RCPT_ERR_PROVIDER_MISMATCH,/* receipt.provider differs from job.provider */
	RCPT_ERR_JOB_LINK,         /* receipt.job is not the job id */
	RCPT_ERR_KERNEL_MISMATCH,  /* kernelHash differs */
	RCPT_ERR_INPUT_MISMATCH,   /* inputRoot or inputSize differs */
	RCPT_ERR_PRICE,            /* price above maxPrice */
	RCPT_ERR_TIME,             /* finishedAt before startedAt */
	RCPT_ERR_INPUT_FILE,       /* given input file does not match the commitment */
	RCPT_ERR_OUTPUT_FILE,      /* given output file does not match the commitment */
	RCPT_ERR_ABI,              /* truncated or non-canonical ABI data (receipts/evm.h) */
	RCPT_ERR_COUNT_            /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *rcpt_strerror(enum rcpt_err err);
/* Stable short identifier such as "job-signer"; never NULL. */
const char *rcpt_errname(enum rcpt_err err);

struct rcpt_diag {
	char msg[RCPT_DIAG_BYTES];
};

/* ------------------------------------------------------------------ */
/* Hashing                                                              */

/* Streaming legacy Keccak-256 (Ethereum's, pad byte 0x01).  The state
 * is a plain struct the caller owns; copy it to fork a hash. */
struct rcpt_keccak {
	uint64_t lanes[25];
	uint8_t buf[136];
	size_t buf_len;
};
void rcpt_keccak_init(struct rcpt_keccak *k);
void rcpt_keccak_update(struct rcpt_keccak *k, const void *data, size_t len);
/* Writes the digest and leaves *k in an undefined state. */
void rcpt_keccak_final(struct rcpt_keccak *k, uint8_t out[RCPT_HASH_BYTES]);
void rcpt_keccak256(uint8_t out[RCPT_HASH_BYTES], const void *data, size_t len);

/* SHA-256 through OpenSSL. */
RCPT_WUR enum rcpt_err rcpt_sha256(uint8_t out[RCPT_HASH_BYTES],
				   const void *data, size_t len);

/* ------------------------------------------------------------------ */
/* Commitments (PROTOCOL.md section 1)                                  */

struct rcpt_commitment {
	uint8_t root[RCPT_HASH_BYTES];
	uint64_t size;
};

/* Commitment to len bytes at data (data may be NULL when len is 0). */
RCPT_WUR enum rcpt_err rcpt_commit_buf(struct rcpt_commitment *out,
				       const void *data, size_t len);

/* Commitment to a whole file, streamed in bounded memory with up to
 * `threads` workers hashing leaves (0 means: the number of online CPUs,
 * at most RCPT_COMMIT_THREADS_MAX).  The result does not depend on
 * `threads`.  Errors: RCPT_ERR_IO (with diag naming the path),
 * RCPT_ERR_TOO_LARGE (over RCPT_COMMIT_FILE_BYTES_MAX), RCPT_ERR_NOMEM,
 * RCPT_ERR_CRYPTO. */
RCPT_WUR enum rcpt_err rcpt_commit_file(struct rcpt_commitment *out,
					struct rcpt_diag *diag,
					const char *path, unsigned threads);

/* Same on an open descriptor, read with pread from offset 0 to EOF. */
RCPT_WUR enum rcpt_err rcpt_commit_fd(struct rcpt_commitment *out,
				      struct rcpt_diag *diag,
				      int fd, unsigned threads);

/* Inclusion proof (RFC 6962 audit path, leaf first) of chunk `index`
 * of the len bytes at data.  *path_len receives the number of hashes.
 * RCPT_ERR_ARG when index is not a chunk of the data. */
RCPT_WUR enum rcpt_err rcpt_proof_buf(uint8_t path[][RCPT_HASH_BYTES],
				      size_t *path_len,
				      const void *data, size_t len,
				      uint64_t index);

/* Same over a file descriptor (streamed; bounded memory). */
RCPT_WUR enum rcpt_err rcpt_proof_fd(uint8_t path[][RCPT_HASH_BYTES],
				     size_t *path_len,
				     struct rcpt_diag *diag,
				     int fd, uint64_t index);

/* Checks that `chunk` is chunk `index` of the string committed to by
 * `c`, given its audit path.  The chunk's length must be exactly that of
 * chunk `index` of a string of c->size bytes.  RCPT_OK or
 * RCPT_ERR_PROOF (or RCPT_ERR_ARG on misuse). */
RCPT_WUR enum rcpt_err rcpt_proof_verify(const struct rcpt_commitment *c,
					 uint64_t index,
					 const void *chunk, size_t chunk_len,
					 const uint8_t path[][RCPT_HASH_BYTES],
					 size_t path_len);

/* ------------------------------------------------------------------ */
/* Hex, addresses, integers                                             */

/* "0x" + 2*len lowercase hex digits + NUL into out (out_len >= 2*len+3). */
RCPT_WUR enum rcpt_err rcpt_hex_encode(char *out, size_t out_len,
				       const uint8_t *data, size_t len);
/* Parses exactly "0x" + 2*len hex digits of either case. */
RCPT_WUR enum rcpt_err rcpt_hex_decode(uint8_t *out, size_t len,
				       const char *hex);
/* Parses exactly 2*len hex digits of either case, no prefix, from the
 * ndigits bytes at digits (not necessarily NUL-terminated): for forms
 * with another prefix (PostgreSQL's "\x" bytea) or none (tokens). */
RCPT_WUR enum rcpt_err rcpt_hex_digits_decode(uint8_t *out, size_t len,
					      const char *digits, size_t ndigits);

/* EIP-55 checksummed form of an address. */
void rcpt_address_format(char out[RCPT_ADDR_HEX_BYTES],
			 const uint8_t addr[RCPT_ADDR_BYTES]);
/* Parses "0x" + 40 hex digits: all lower, all upper, or mixed with a
 * correct checksum (else RCPT_ERR_CHECKSUM). */
RCPT_WUR enum rcpt_err rcpt_address_parse(uint8_t out[RCPT_ADDR_BYTES],
					  const char *text);

/* uint256, big-endian. */
struct rcpt_u256 {
	uint8_t be[32];
};
/* Canonical decimal: digits only, no sign, no leading zero except "0"
 * itself, value below 2^256.  Else RCPT_ERR_DECIMAL. */
RCPT_WUR enum rcpt_err rcpt_u256_parse(struct rcpt_u256 *out, const char *text);
void rcpt_u256_format(char out[RCPT_U256_DEC_BYTES], const struct rcpt_u256 *v);
/* -1, 0 or 1 as a < b, a == b, a > b. */
int rcpt_u256_cmp(const struct rcpt_u256 *a, const struct rcpt_u256 *b);
void rcpt_u256_from_u64(struct rcpt_u256 *out, uint64_t v);

/* ------------------------------------------------------------------ */
/* Keys and signatures                                                  */

/* A private key and its address.  Wipe with rcpt_key_wipe on every exit
 * path; never copy it into a log or an error message. */
struct rcpt_key {
	uint8_t secret[RCPT_SECKEY_BYTES];
	uint8_t address[RCPT_ADDR_BYTES];
};

/* A fresh key from getrandom(2). */
RCPT_WUR enum rcpt_err rcpt_key_generate(struct rcpt_key *out);
/* A key from 32 secret bytes (RCPT_ERR_KEY_INVALID when out of range). */
RCPT_WUR enum rcpt_err rcpt_key_from_secret(struct rcpt_key *out,
					    const uint8_t secret[RCPT_SECKEY_BYTES]);
/* Writes "0x" + 64 hex + "\n" to a new file created 0600 (never
 * overwrites: RCPT_ERR_KEY_EXISTS), fsynced. */
RCPT_WUR enum rcpt_err rcpt_key_save(const struct rcpt_key *key,
				     struct rcpt_diag *diag, const char *path);
/* Reads a key file; refuses one that group or others can read or write
 * (RCPT_ERR_KEY_PERMS), that is not a regular file, or that is not
 * exactly "0x" + 64 hex digits + optional "\n" (RCPT_ERR_KEY_FORMAT).
 * Every buffer that held the secret is wiped. */
RCPT_WUR enum rcpt_err rcpt_key_load(struct rcpt_key *out,
				     struct rcpt_diag *diag, const char *path);
void rcpt_key_wipe(struct rcpt_key *key);

/* Signs a 32-byte digest: RFC 6979 nonce, low-S, v in {27, 28}. */
RCPT_WUR enum rcpt_err rcpt_sign_digest(uint8_t sig[RCPT_SIG_BYTES],
					const struct rcpt_key *key,
					const uint8_t digest[RCPT_HASH_BYTES]);
/* Recovers the signer's address with PROTOCOL.md's rules: v in
 * {0, 1, 27, 28} (else RCPT_ERR_SIG_V), s <= n/2 (else
 * RCPT_ERR_SIG_HIGH_S), r and s in range (else RCPT_ERR_SIG_FORMAT),
 * and a recoverable key (else RCPT_ERR_SIG_RECOVER). */
RCPT_WUR enum rcpt_err rcpt_recover_digest(uint8_t addr[RCPT_ADDR_BYTES],
					   const uint8_t sig[RCPT_SIG_BYTES],
					   const uint8_t digest[RCPT_HASH_BYTES]);

/* EIP-191 personal_sign digest of a message (at most
 * RCPT_MESSAGE_BYTES_MAX bytes, else RCPT_ERR_TOO_LARGE). */
RCPT_WUR enum rcpt_err rcpt_eip191_digest(uint8_t out[RCPT_HASH_BYTES],
					  const void *msg, size_t len);
RCPT_WUR enum rcpt_err rcpt_message_sign(uint8_t sig[RCPT_SIG_BYTES],
					 const struct rcpt_key *key,
					 const void *msg, size_t len);
RCPT_WUR enum rcpt_err rcpt_message_recover(uint8_t addr[RCPT_ADDR_BYTES],
					    const uint8_t sig[RCPT_SIG_BYTES],
					    const void *msg, size_t len);

/* ------------------------------------------------------------------ */
/* Typed statements (PROTOCOL.md section 3)                             */

struct rcpt_domain {
	char name[RCPT_DOMAIN_STRING_BYTES_MAX + 1];
	char version[RCPT_DOMAIN_STRING_BYTES_MAX + 1];
	uint64_t chain_id;
	uint8_t verifying_contract[RCPT_ADDR_BYTES];
};

struct rcpt_job {
	uint8_t customer[RCPT_ADDR_BYTES];
	uint8_t provider[RCPT_ADDR_BYTES];
	char kernel[RCPT_KERNEL_BYTES_MAX + 1];
	uint8_t kernel_hash[RCPT_HASH_BYTES];
	char params[RCPT_PARAMS_BYTES_MAX + 1];
	uint8_t input_root[RCPT_HASH_BYTES];
	uint64_t input_size;
	struct rcpt_u256 max_price;
	uint64_t deadline;          /* Unix seconds */
	uint64_t nonce;
};

struct rcpt_receipt {
	uint8_t job[RCPT_HASH_BYTES];
	uint8_t kernel_hash[RCPT_HASH_BYTES];
	uint8_t input_root[RCPT_HASH_BYTES];
	uint64_t input_size;
	uint8_t output_root[RCPT_HASH_BYTES];
	uint64_t output_size;
	struct rcpt_u256 price;
	char device[RCPT_DEVICE_BYTES_MAX + 1];
	uint64_t started_at_ms;
	uint64_t finished_at_ms;
	uint8_t provider[RCPT_ADDR_BYTES];
};

enum rcpt_verdict {
	RCPT_VERDICT_MATCH = 1,
	RCPT_VERDICT_DIFFERS = 2,
};

struct rcpt_attestation {
	uint8_t receipt[RCPT_HASH_BYTES];
	uint8_t output_root[RCPT_HASH_BYTES];
	uint8_t verdict;            /* enum rcpt_verdict */
	uint8_t validator[RCPT_ADDR_BYTES];
};

/* An operator's decision about a provider (ProviderDecision; the
 * escrow's approved registry, docs/escrow.md "Approved registry").  An
 * addition to PROTOCOL.md section 3: the three statements above are
 * unchanged.  `action` is one of RCPT_DECISION_APPROVE, _SUSPEND,
 * _REVOKE; `operator_addr` is the signer ("operator" in JSON). */
#define RCPT_DECISION_APPROVE "approve"
#define RCPT_DECISION_SUSPEND "suspend"
#define RCPT_DECISION_REVOKE "revoke"
struct rcpt_decision {
	uint8_t operator_addr[RCPT_ADDR_BYTES];
	uint8_t provider[RCPT_ADDR_BYTES];
	char action[RCPT_DECISION_ACTION_BYTES_MAX + 1];
	char organisation[RCPT_ORGANISATION_BYTES_MAX + 1];
	char contact[RCPT_CONTACT_BYTES_MAX + 1];
	uint64_t expires;           /* Unix seconds; 0 when the action sets none */
	uint64_t nonce;             /* above the provider's last decision's */
	uint64_t issued_at;         /* Unix seconds */
};

/* Fills an Assay domain: name "Assay", version "1". */
void rcpt_domain_assay(struct rcpt_domain *out, uint64_t chain_id,
		       const uint8_t verifying_contract[RCPT_ADDR_BYTES]);

/* EIP-712 pieces.  The struct hashes validate their strings first
 * (RCPT_ERR_FIELD with diag) so that nothing malformed is ever signed. */
RCPT_WUR enum rcpt_err rcpt_domain_separator(uint8_t out[RCPT_HASH_BYTES],
					     const struct rcpt_domain *d);
RCPT_WUR enum rcpt_err rcpt_job_hash_struct(uint8_t out[RCPT_HASH_BYTES],
					    struct rcpt_diag *diag,
					    const struct rcpt_job *job);
RCPT_WUR enum rcpt_err rcpt_receipt_hash_struct(uint8_t out[RCPT_HASH_BYTES],
						struct rcpt_diag *diag,
						const struct rcpt_receipt *r);
RCPT_WUR enum rcpt_err rcpt_attestation_hash_struct(uint8_t out[RCPT_HASH_BYTES],
						    struct rcpt_diag *diag,
						    const struct rcpt_attestation *a);
/* Also refuses an action other than the three (RCPT_ERR_FIELD). */
RCPT_WUR enum rcpt_err rcpt_decision_hash_struct(uint8_t out[RCPT_HASH_BYTES],
						 struct rcpt_diag *diag,
						 const struct rcpt_decision *d);
/* keccak256(0x19 0x01 || domainSeparator || hashStruct) */
void rcpt_eip712_digest(uint8_t out[RCPT_HASH_BYTES],
			const uint8_t domain_separator[RCPT_HASH_BYTES],
			const uint8_t hash_struct[RCPT_HASH_BYTES]);

/* Full digests (the job id, the receipt id, the attestation digest). */
RCPT_WUR enum rcpt_err rcpt_job_id(uint8_t out[RCPT_HASH_BYTES],
				   struct rcpt_diag *diag,
				   const struct rcpt_domain *d,
				   const struct rcpt_job *job);
RCPT_WUR enum rcpt_err rcpt_receipt_id(uint8_t out[RCPT_HASH_BYTES],
				       struct rcpt_diag *diag,
				       const struct rcpt_domain *d,
				       const struct rcpt_receipt *r);
RCPT_WUR enum rcpt_err rcpt_attestation_digest(uint8_t out[RCPT_HASH_BYTES],
					       struct rcpt_diag *diag,
					       const struct rcpt_domain *d,
					       const struct rcpt_attestation *a);

/* The digest an operator signs for a ProviderDecision. */
RCPT_WUR enum rcpt_err rcpt_decision_digest(uint8_t out[RCPT_HASH_BYTES],
					    struct rcpt_diag *diag,
					    const struct rcpt_domain *dom,
					    const struct rcpt_decision *d);

/* ------------------------------------------------------------------ */
/* Strict JSON (PROTOCOL.md section 4)                                  */

/* Each parser takes exactly one JSON document of at most `len` bytes
 * (itself at most RCPT_JSON_BYTES_MAX), refuses duplicate, unknown or
 * missing keys, wrong types, out-of-range integers and trailing bytes,
 * and names the field in diag.  Errors: RCPT_ERR_TOO_LARGE,
 * RCPT_ERR_JSON, RCPT_ERR_FIELD. */
RCPT_WUR enum rcpt_err rcpt_domain_parse(struct rcpt_domain *out,
					 struct rcpt_diag *diag,
					 const char *json, size_t len);
RCPT_WUR enum rcpt_err rcpt_job_parse(struct rcpt_job *out,
				      struct rcpt_diag *diag,
				      const char *json, size_t len);
RCPT_WUR enum rcpt_err rcpt_receipt_parse(struct rcpt_receipt *out,
					  struct rcpt_diag *diag,
					  const char *json, size_t len);
RCPT_WUR enum rcpt_err rcpt_attestation_parse(struct rcpt_attestation *out,
					      struct rcpt_diag *diag,
					      const char *json, size_t len);
RCPT_WUR enum rcpt_err rcpt_decision_parse(struct rcpt_decision *out,
					   struct rcpt_diag *diag,
					   const char *json, size_t len);

/* Serialisers write compact JSON, keys in the order of the EIP-712 type,
 * into a buffer the caller frees with free().  RCPT_ERR_NOMEM or
 * RCPT_ERR_FIELD (a struct that could not be parsed back). */
RCPT_WUR enum rcpt_err rcpt_domain_to_json(char **out, const struct rcpt_domain *d);
RCPT_WUR enum rcpt_err rcpt_job_to_json(char **out, const struct rcpt_job *job);
RCPT_WUR enum rcpt_err rcpt_receipt_to_json(char **out, const struct rcpt_receipt *r);
RCPT_WUR enum rcpt_err rcpt_attestation_to_json(char **out,
						const struct rcpt_attestation *a);
RCPT_WUR enum rcpt_err rcpt_decision_to_json(char **out, const struct rcpt_decision *d);

/* Signature in JSON form: "0x" + 130 hex digits, either case. */
RCPT_WUR enum rcpt_err rcpt_sig_parse(uint8_t out[RCPT_SIG_BYTES], const char *text);

/* ------------------------------------------------------------------ */
/* Receipt bundles (PROTOCOL.md section 4)                              */

struct rcpt_bundle {
	struct rcpt_domain domain;
	struct rcpt_job job;
	uint8_t job_sig[RCPT_SIG_BYTES];
	struct rcpt_receipt receipt;
	uint8_t receipt_sig[RCPT_SIG_BYTES];
};

RCPT_WUR enum rcpt_err rcpt_bundle_parse(struct rcpt_bundle *out,
					 struct rcpt_diag *diag,
					 const char *json, size_t len);
RCPT_WUR enum rcpt_err rcpt_bundle_to_json(char **out, const struct rcpt_bundle *b);

/* What a successful verification establishes. */
struct rcpt_bundle_ids {
	uint8_t job_id[RCPT_HASH_BYTES];
	uint8_t receipt_id[RCPT_HASH_BYTES];
	uint8_t customer[RCPT_ADDR_BYTES];
	uint8_t provider[RCPT_ADDR_BYTES];
};

/* Makes every check of PROTOCOL.md section 4 and returns the first that
 * fails (the RCPT_ERR_DOMAIN ... RCPT_ERR_TIME codes, in that order) with
 * diag saying why.  `expect` may be NULL; when given, the bundle's domain
 * must equal it (pins the chain and the escrow).  `ids` may be NULL. */
RCPT_WUR enum rcpt_err rcpt_bundle_verify(struct rcpt_bundle_ids *ids,
					  struct rcpt_diag *diag,
					  const struct rcpt_bundle *b,
					  const struct rcpt_domain *expect);

/* Parse and verify in one call: the fuzz target's entry point. */
RCPT_WUR enum rcpt_err rcpt_bundle_check_json(struct rcpt_bundle_ids *ids,
					      struct rcpt_diag *diag,
					      const char *json, size_t len,
					      const struct rcpt_domain *expect);

/* Writes to `out` how the bundle's ids and signers are computed: type
 * strings and hashes, every encodeData word, domain separator,
 * hashStructs, digests, recovered signers and the checks' verdict.
 * Public data only.  For implementers and auditors. */
RCPT_WUR enum rcpt_err rcpt_bundle_explain(FILE *out, const struct rcpt_bundle *b);

/* Writes every leaf and node hash of the commitment to a small buffer
 * (at most 16 chunks, else RCPT_ERR_TOO_LARGE). */
RCPT_WUR enum rcpt_err rcpt_commit_explain(FILE *out, const void *data, size_t len);

/* ------------------------------------------------------------------ */
/* Process hygiene                                                      */

/* Turns off core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0) so that keys
 * and tokens in memory never reach a core file.  Call first in main(). */
RCPT_WUR enum rcpt_err rcpt_harden_process(void);

#endif
