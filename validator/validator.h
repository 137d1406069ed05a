/*
 * validator.h: the one public header of Assay's validator
 * (libassay-validator.a, prefix valid_), the node that keeps providers
 * honest.  docs/validator.md explains the scheme; this header is the
 * contract of each piece:
 *
 * - sampling: a receipt is checked iff
 *   be64(keccak256(seed || receiptId)[0..8]) < floor(sampleBps * 2^64 / 10^4),
 *   with the seed committed to the escrow (keccak256(seed)) before the
 *   receipts it decides on exist, and revealed when the validator rotates
 *   or stops, so that anyone can re-derive every decision;
 * - checks: bytes from a provider are used only when they match the
 *   job's or the receipt's commitment;
 * - evidence: the first 64 KiB chunk where the provider's output differs
 *   from the re-executed one, with its inclusion proof;
 * - the signing record: at most one attestation per receipt, ever.  It is
 *   written and fsynced before its signature leaves the process, and a
 *   different one for the same receipt is refused, across restarts;
 * - the node: polls the escrow, queues sampled jobs (bounded), re-executes
 *   them in the provider's sandboxed worker under a CPU budget, attests,
 *   reports withholding, and serves /livez, /readyz, /metrics, /v1/status.
 *
 * Conventions as receipts.h: outputs first, a length after its pointer,
 * warn_unused_result on what can fail, no pointer may be NULL unless its
 * comment says so; VALID_OK is 0.
 */
#ifndef ASSAY_VALIDATOR_H
#define ASSAY_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"
#include "receipts.h"
#include "valid_limits.h"

#if defined(__GNUC__)
#define VALID_WUR __attribute__((warn_unused_result))
#else
#define VALID_WUR
#endif

/* The seed: 32 secret bytes from getrandom. */
#define VALID_SEED_BYTES 32

enum valid_err {
	VALID_OK = 0,
	VALID_ERR_ARG,             /* misuse by the caller */
	VALID_ERR_NOMEM,           /* allocation failed */
	VALID_ERR_IO,              /* the state directory could not be read or written */
	VALID_ERR_RANDOM,          /* the OS CSPRNG failed */
	VALID_ERR_CRYPTO,          /* signing or hashing failed */
	VALID_ERR_STATE,           /* a state file is malformed or readable by others */
	VALID_ERR_NOT_FOUND,       /* no such record */
	VALID_ERR_RECORD_CONFLICT, /* another attestation is recorded for this receipt */
	VALID_ERR_INPUT_MISMATCH,  /* bytes do not match job.inputRoot/inputSize */
	VALID_ERR_OUTPUT_MISMATCH, /* bytes do not match receipt.outputRoot/outputSize */
	VALID_ERR_COMMITMENT,      /* the revealed seed does not hash to the commitment */
	VALID_ERR_NO_EVIDENCE,     /* the outputs do not differ in any chunk of the provider's */
	VALID_ERR_UNREACHABLE,     /* a service gave no answer (after the retries) */
	VALID_ERR_PEER,            /* a service answered something unusable */
	VALID_ERR_STAKE,           /* the validator holds less than the minimum stake */
	VALID_ERR_REFUSED,         /* a switch refused on this escrow (--lie off devnet) */
	VALID_ERR_LISTEN,          /* the status server could not start */
	VALID_ERR_COUNT_           /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *valid_strerror(enum valid_err err);
/* Stable short identifier such as "record-conflict"; never NULL. */
const char *valid_errname(enum valid_err err);

/* ------------------------------------------------------------------ */
/* Sampling (sample.c)                                                  */

/* The threshold floor(sample_bps * 2^64 / 10^4) as a 128-bit value held
 * in two words (sample_bps 10^4 gives exactly 2^64: hi 1, lo 0).
 * sample_bps above 10^4 is misuse and is clamped to 10^4 (asserted). */
struct valid_threshold {
	uint64_t hi, lo;
};
void valid_sample_threshold(struct valid_threshold *out, unsigned sample_bps);

/* The 64-bit draw be64(keccak256(seed || receipt_id)[0..8]). */
uint64_t valid_sample_draw(const uint8_t seed[VALID_SEED_BYTES],
			   const uint8_t receipt_id[RCPT_HASH_BYTES]);

/* 1 when the rule samples receipt_id under seed at sample_bps, else 0. */
int valid_sample_decide(const uint8_t seed[VALID_SEED_BYTES],
			const uint8_t receipt_id[RCPT_HASH_BYTES],
			unsigned sample_bps);

/* keccak256(seed): what the validator registers with the escrow. */
void valid_seed_commitment(uint8_t out[RCPT_HASH_BYTES],
			   const uint8_t seed[VALID_SEED_BYTES]);

/* The auditor's function: checks that the revealed seed hashes to the
 * commitment, then re-derives the decision for receipt_id into
 * *sampled.  VALID_OK or VALID_ERR_COMMITMENT. */
VALID_WUR enum valid_err valid_sample_audit(int *sampled,
					    const uint8_t seed[VALID_SEED_BYTES],
					    const uint8_t commitment[RCPT_HASH_BYTES],
					    const uint8_t receipt_id[RCPT_HASH_BYTES],
					    unsigned sample_bps);

/* The seed file DIR/seed ("0x" + 64 hex digits + "\n", mode 0600): loads
 * it, or creates a fresh one (getrandom, O_EXCL, fsynced) when absent.
 * *created says which.  A file readable or writable by group or others,
 * or malformed, is refused (VALID_ERR_STATE).  The caller wipes seed.
 * Errors: VALID_ERR_IO, VALID_ERR_STATE, VALID_ERR_RANDOM. */
VALID_WUR enum valid_err valid_seed_load_or_create(uint8_t seed[VALID_SEED_BYTES],
						   int *created,
						   struct rcpt_diag *diag,
						   const char *dir);
/* Retires DIR/seed after its reveal: renamed to DIR/seed.revealed.N so
 * that the next start makes a fresh one.  VALID_ERR_IO. */
VALID_WUR enum valid_err valid_seed_retire(const char *dir);

/* ------------------------------------------------------------------ */
/* Checks and evidence (check.c)                                        */

/* The len bytes at data (NULL when len is 0) match the job's input
 * commitment: VALID_OK, VALID_ERR_INPUT_MISMATCH, VALID_ERR_CRYPTO. */
VALID_WUR enum valid_err valid_check_input(const struct rcpt_job *job,
					   const void *data, size_t len);
/* Same against the receipt's outputRoot/outputSize:
 * VALID_ERR_OUTPUT_MISMATCH. */
VALID_WUR enum valid_err valid_check_output(const struct rcpt_receipt *r,
					    const void *data, size_t len);

/* Evidence of contract item 5: chunk `chunk` of the provider's output
 * (data points into the caller's buffer, data_len <= 65536) with its
 * RFC 6962 audit path against the provider's root. */
struct valid_evidence {
	uint64_t chunk;
	const uint8_t *data;
	size_t data_len;
	uint8_t proof[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
	size_t proof_len;
};

/* The first chunk index of `theirs` (the provider's output, already
 * checked against its receipt) whose bytes differ from the same chunk
 * of `mine` (a chunk of `mine` that is missing or shorter differs), and
 * its proof.  VALID_ERR_NO_EVIDENCE when every chunk of theirs equals
 * mine's (theirs empty, or a prefix that ends on a chunk boundary). */
VALID_WUR enum valid_err valid_evidence_find(struct valid_evidence *out,
					     const uint8_t *theirs, size_t theirs_len,
					     const uint8_t *mine, size_t mine_len);

/* Signs the attestation under the domain (RFC 6979: the same statement
 * always gives the same signature).  VALID_ERR_CRYPTO, VALID_ERR_ARG. */
VALID_WUR enum valid_err valid_attest_sign(uint8_t sig[RCPT_SIG_BYTES],
					   const struct rcpt_key *key,
					   const struct rcpt_domain *domain,
					   const struct rcpt_attestation *a);

/* The body of POST /v1/jobs/{id}/attestations: {"attestation":...,
 * "signature":...} plus, each when non-NULL, "input" (base64 of
 * input_len bytes) and "evidence" ({"chunk","data","proof"}).  *out is
 * malloc'd; the caller frees it.  VALID_ERR_NOMEM, VALID_ERR_ARG. */
VALID_WUR enum valid_err valid_attest_body(char **out,
					   const struct rcpt_attestation *a,
					   const uint8_t sig[RCPT_SIG_BYTES],
					   const uint8_t *input, size_t input_len,
					   const struct valid_evidence *ev);

/* ------------------------------------------------------------------ */
/* The signing record (record.c)                                        */

/* One signed attestation, as recorded.  The record holds no job data
 * (no input, no output): only public statements. */
struct valid_record {
	uint8_t job[RCPT_HASH_BYTES];
	struct rcpt_attestation att;
	uint8_t sig[RCPT_SIG_BYTES];
	int sent;                 /* the escrow has answered it for good */
};

/* Creates DIR (0700) if absent; refuses one that group or others may
 * enter (VALID_ERR_STATE).  VALID_ERR_IO. */
VALID_WUR enum valid_err valid_state_dir_open(struct rcpt_diag *diag, const char *dir);

/* Records rec for rec->att.receipt in DIR/records: written to a
 * temporary file (O_EXCL, 0600), fsynced, linked to its final name
 * (never over an existing one) and the directory fsynced, all before it
 * returns.  When a record already exists for that receipt: VALID_OK if
 * it holds the very same attestation and signature (a retry), else
 * VALID_ERR_RECORD_CONFLICT and nothing changes.  *existing (may be
 * NULL) receives what is recorded after the call.  Errors: VALID_ERR_IO,
 * VALID_ERR_STATE (an unreadable record: treated as a conflict). */
VALID_WUR enum valid_err valid_record_put(struct valid_record *existing,
					  struct rcpt_diag *diag,
					  const char *dir,
					  const struct valid_record *rec);
/* The record of receipt_id: VALID_OK, VALID_ERR_NOT_FOUND,
 * VALID_ERR_STATE, VALID_ERR_IO. */
VALID_WUR enum valid_err valid_record_get(struct valid_record *out,
					  struct rcpt_diag *diag,
					  const char *dir,
					  const uint8_t receipt_id[RCPT_HASH_BYTES]);
/* Marks the record of receipt_id as answered (DIR/records/ID.sent).
 * VALID_ERR_IO. */
VALID_WUR enum valid_err valid_record_mark_sent(const char *dir,
						const uint8_t receipt_id[RCPT_HASH_BYTES]);
/* Up to max receipt ids whose records are not marked sent, into ids;
 * *n the count.  VALID_ERR_IO. */
VALID_WUR enum valid_err valid_record_pending(uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
					      size_t max, const char *dir);

/* The one entry point that decides, signs and records: makes the
 * attestation (receipt, output_root, verdict, the key's address), and
 * if DIR already holds a record for the receipt returns that one in
 * *out (VALID_OK when it is the same statement, VALID_ERR_RECORD_CONFLICT
 * when it differs: the recorded one is what must be sent, the new one
 * is never signed); else signs it, records it (fsynced) and returns it.
 * Only after this returns may the signature be sent. */
VALID_WUR enum valid_err valid_record_sign(struct valid_record *out,
					   struct rcpt_diag *diag,
					   const char *dir,
					   const struct rcpt_key *key,
					   const struct rcpt_domain *domain,
					   const uint8_t job_id[RCPT_HASH_BYTES],
					   const uint8_t receipt_id[RCPT_HASH_BYTES],
					   const uint8_t output_root[RCPT_HASH_BYTES],
					   uint8_t verdict);

/* ------------------------------------------------------------------ */
/* The node (node.c)                                                    */

struct valid_config {
	const char *escrow_url;    /* "http://127.0.0.1:8700", no trailing '/' */
	const char *key_path;      /* the validator's key (mode 0600) */
	const char *state_dir;     /* seed, signing records, scratch */
	const char *listen_host;   /* status server; NULL: "127.0.0.1" */
	uint16_t listen_port;      /* 0: the kernel picks (valid_node_port) */
	unsigned queue_max;        /* 0: defaults from valid_limits.h */
	unsigned workers;
	unsigned cpu_s_per_min;
	unsigned job_cpu_s;
	unsigned job_threads;      /* kernel threads of one re-execution; 0: 1 */
	int sandbox_strict;        /* --sandbox strict: a refused layer is fatal */
	const char *device;        /* --device auto|cpu|cuda; NULL: auto */
	unsigned poll_ms;
	unsigned fetch_tries;
	unsigned fetch_timeout_ms;
	unsigned fetch_backoff_ms;
	int lie;                   /* TEST ONLY: flip every verdict; refused unless chain 31337 */
	/* TEST ONLY: check only the receipts the seed selects at this rate
	 * (bps, below the escrow's sampleBps), a validator lazier than it
	 * announces, for the escrow's seed audit to find; refused unless
	 * chain 31337.  0 with lazy_set 0: the announced rate. */
	unsigned lazy_bps;
	int lazy_set;
	int quiet;                 /* no per-request log line from the status server */
	const char *tls_cert;      /* serve HTTPS: both set, or both NULL */
	const char *tls_key;       /* (mode 0600) */
	int tls_allow_12;          /* also TLS 1.2 (ECDHE and AEAD only) */
};

struct valid_node;

/* Counters, for /v1/status, /metrics and tests. */
struct valid_stats {
	uint64_t seen, sampled, queued, dropped, running;
	uint64_t attested_match, attested_differs, withheld, failed, resent;
	uint64_t cpu_ms;
};

/*
 * Starts the node: loads the key (refused when readable by others),
 * reads GET /v1/params (the domain, sampleBps, minStake), refuses --lie
 * unless the chain id is 31337, checks the stake (VALID_ERR_STAKE),
 * loads or creates the seed and registers its commitment
 * (POST /v1/validators), resends pending records, starts the status
 * server, the poller and the workers.  *out is freed by valid_node_stop.
 * `why` (may be NULL) names what failed, never a secret.
 * Errors: every enum valid_err value but the record ones.
 */
VALID_WUR enum valid_err valid_node_start(struct valid_node **out,
					  char *why, size_t why_len,
					  const struct valid_config *cfg);
/* The status server's port. */
uint16_t valid_node_port(const struct valid_node *n);
/* A snapshot of the counters. */
void valid_node_stats(struct valid_stats *out, struct valid_node *n);
/* The registered seed commitment and the validator's address. */
void valid_node_identity(uint8_t commitment[RCPT_HASH_BYTES],
			 uint8_t address[RCPT_ADDR_BYTES],
			 const struct valid_node *n);
/* Stops the threads (a running re-execution is waited for), then, when
 * `reveal`, reveals the seed (POST /v1/validators/reveal) and retires
 * the seed file; wipes the key and the seed; frees.  NULL is fine.
 * Returns VALID_OK, or the reveal's error (the node is freed anyway). */
enum valid_err valid_node_stop(struct valid_node *n, int reveal);

/* The status server's route table (GET /v1/status; the httpd built-ins
 * are not in it), for assay-validator --print-routes. */
extern const struct httpd_route valid_routes[];
extern const size_t valid_routes_len;

#endif
