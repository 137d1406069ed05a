/*
 * statement_evm.c: the statement commands on the EVM backend
 * (money_evm.h: money_evm_statement).
 *
 *   assay escrow open JOB.json (--sig SIG | --key FILE) [--relayer FILE] --rpc URL (...)
 *   assay escrow receipt ID RECEIPT.json (--sig SIG | --key FILE) [--relayer FILE] ...
 *   assay escrow attest ID ATTESTATION.json (--sig SIG | --key FILE) --receipt RECEIPT.json ...
 *   assay escrow settle ID --key FILE ...
 *   assay escrow job ID ...
 *
 * The connection, the chain file, the sender and the transaction are
 * money_evm.c's (money_evm_internal.h).  What this file adds: reading
 * and checking the statements, their signature under the contract's
 * domain (the node's chain id and the escrow's address: PROTOCOL.md
 * section 3), their calldata (receipts/evm.h) and the job as the
 * contract holds it (jobState and jobInfo).
 *
 * Invariants: nothing is sent before every statement parsed, its ids
 * agree with the command's ID, its signature recovers its signer and
 * every key loaded; the contract checks all of it again and is the
 * authority on every rule (a refusal is its custom error, by name).
 * The job printed is read at one block: the transaction's (the latest
 * for `job`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "assay_assert.h"
#include "cli.h"
#include "evm.h"
#include "evm_rpc.h"
#include "money_evm.h"
#include "money_evm_internal.h"
#include "receipts.h"

#include "banned.h"

/* A statement file (JobSpec, Receipt, Attestation): the parsers' own bound. */
#define STMT_FILE_BYTES_MAX RCPT_JSON_BYTES_MAX

/* jobState's names (PROTOCOL.md section 7, docs/escrow.md's states). */
static const char *const stmt_states[] = { "unknown", "open", "receipted", "disputed", "paid",
	"refunded" };
#define STMT_STATE_MAX 5u

/* The statements of one command, parsed. */
struct stmt {
	uint8_t id[RCPT_HASH_BYTES];          /* the job id: ID, or JobSpec's digest (open) */
	struct rcpt_job job;                  /* open */
	struct rcpt_receipt rec;              /* receipt; attest: --receipt */
	struct rcpt_attestation att;          /* attest */
	uint8_t sig[RCPT_SIG_BYTES];          /* the statement's signature */
};

/* ------------------------------------------------------------------ */
/* Arguments                                                            */

typedef enum rcpt_err (*stmt_parse_fn)(void *out, struct rcpt_diag *d, const char *json,
				       size_t len);

static enum rcpt_err parse_job(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_job_parse(o, d, j, n);
}

static enum rcpt_err parse_receipt(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_receipt_parse(o, d, j, n);
}

static enum rcpt_err parse_att(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_attestation_parse(o, d, j, n);
}

/* A statement file, parsed strictly.  0 or 2. */
static int read_stmt(const struct money *m, void *out, const char *path, const char *what,
		     stmt_parse_fn parse)
{
	struct rcpt_diag d = { "" };
	enum rcpt_err re;
	char *text = NULL;
	size_t len;
	int rc;

	rc = cli_read_file(&text, &len, path, STMT_FILE_BYTES_MAX);
	if (rc == CLI_READ_TOO_LARGE)
		cli_err("%s: %s '%s' is larger than %u bytes", m->cmd, what, path,
			(unsigned)STMT_FILE_BYTES_MAX);
	if (rc)
		return 2;
	re = parse(out, &d, text, len);
	free(text);
	if (re != RCPT_OK) {
		cli_err("%s: %s '%s': %s", m->cmd, what, path, d.msg[0] ? d.msg : rcpt_strerror(re));
		return 2;
	}
	return 0;
}

static int parse_id(const struct money *m, uint8_t out[RCPT_HASH_BYTES], const char *s)
{
	if (rcpt_hex_decode(out, RCPT_HASH_BYTES, s) != RCPT_OK) {
		cli_err("%s: job id '%.80s' is not 0x + 64 hex digits", m->cmd, s);
		return 2;
	}
	return 0;
}

/* Which options the operation takes, beyond the connection's.  0 or 2. */
static int check_flags(const struct money *m, const struct money_evm_flags *f,
		       enum money_stmt_op op)
{
	int signs = op == MONEY_OPEN || op == MONEY_RECEIPT || op == MONEY_ATTEST;

	ASSAY_ASSERT(m->cmd && f);

	if (signs && !f->sig && !f->key) {
		cli_err("%s: give --sig SIG (the statement signed elsewhere) or --key FILE (its "
			"signer's key)", m->cmd);
		return 2;
	}
	if (signs && f->sig && f->key && f->relayer) {
		cli_err("%s: --sig with both --key and --relayer: give one account to send it",
			m->cmd);
		return 2;
	}
	if (signs && f->sig && !f->key && !f->relayer) {
		cli_err("%s: --sig needs --relayer FILE (or --key FILE): the account that sends "
			"the transaction and pays its gas", m->cmd);
		return 2;
	}
	if ((op == MONEY_ATTEST) != (f->receipt != NULL)) {
		cli_err("%s: %s", m->cmd, op == MONEY_ATTEST ?
			"needs --receipt RECEIPT.json (the receipt attested: the contract checks "
			"the attestation against it)" : "--receipt goes only with attest");
		return 2;
	}
	if (op == MONEY_SETTLE && !f->key) {
		cli_err("%s: needs --key FILE (the account that sends settle(job); any account "
			"may)", m->cmd);
		return 2;
	}
	if (!signs && (f->sig || f->relayer)) {
		cli_err("%s: --%s does not apply (nothing is signed)", m->cmd,
			f->sig ? "sig" : "relayer");
		return 2;
	}
	if (op == MONEY_JOB && (f->key || f->confirmations || f->timeout_s)) {
		cli_err("%s: --%s does not apply (job sends no transaction)", m->cmd,
			f->key ? "key" : f->confirmations ? "confirmations" : "timeout-s");
		return 2;
	}
	return 0;
}

/* The statements the operation needs, parsed; their links checked.  0 or 2. */
static int read_stmts(const struct money *m, struct stmt *s, const struct money_evm_flags *f,
		      enum money_stmt_op op, const char *id, const char *file)
{
	int rc;

	ASSAY_ASSERT((op == MONEY_OPEN) == (id == NULL));
	ASSAY_ASSERT(op != MONEY_ATTEST || f->receipt);
	if (op == MONEY_OPEN)
		return read_stmt(m, &s->job, file, "job", parse_job);
	rc = parse_id(m, s->id, id);
	if (!rc && op == MONEY_RECEIPT)
		rc = read_stmt(m, &s->rec, file, "receipt", parse_receipt);
	if (!rc && op == MONEY_ATTEST) {
		rc = read_stmt(m, &s->att, file, "attestation", parse_att);
		if (!rc)
			rc = read_stmt(m, &s->rec, f->receipt, "--receipt", parse_receipt);
	}
	if (!rc && (op == MONEY_RECEIPT || op == MONEY_ATTEST) &&
	    memcmp(s->rec.job, s->id, RCPT_HASH_BYTES) != 0) {
		cli_err("%s: receipt '%s' is for another job than %.80s", m->cmd,
			op == MONEY_RECEIPT ? file : f->receipt, id);
		rc = 2;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                           */

/* s->sig: --sig, checked to recover `signer` from `digest`, or made with
 * --key, which must be `signer`.  0, 1 or 2. */
static int stmt_sign(const struct money *m, struct stmt *s, const struct money_evm_flags *f,
		     const char *what, const uint8_t digest[RCPT_HASH_BYTES],
		     const uint8_t signer[RCPT_ADDR_BYTES])
{
	uint8_t got[RCPT_ADDR_BYTES];
	char want[RCPT_ADDR_HEX_BYTES];
	struct rcpt_key key;
	enum rcpt_err re;
	int rc;

	/* check_flags ran: a signature given, or a key to make it. */
	ASSAY_ASSERT(f->sig || f->key);
	rcpt_address_format(want, signer);
	if (f->sig) {
		if (rcpt_sig_parse(s->sig, f->sig) != RCPT_OK) {
			cli_err("%s: --sig is not 0x and 130 hex digits", m->cmd);
			return 2;
		}
		re = rcpt_recover_digest(got, s->sig, digest);
		if (re != RCPT_OK || memcmp(got, signer, RCPT_ADDR_BYTES) != 0) {
			cli_err("%s: --sig is not the %s signer %s's signature under this escrow's "
				"domain%s%s", m->cmd, what, want, re ? ": " : "",
				re ? rcpt_strerror(re) : "");
			return 2;
		}
		return 0;
	}
	rc = money_load_key(m, &key, f->key);
	if (rc)
		return rc;
	if (memcmp(key.address, signer, RCPT_ADDR_BYTES) != 0) {
		rcpt_key_wipe(&key);
		cli_err("%s: the key is not the %s signer %s", m->cmd, what, want);
		return 2;
	}
	re = rcpt_sign_digest(s->sig, &key, digest);
	rcpt_key_wipe(&key);
	if (re != RCPT_OK) {
		cli_err("%s: could not sign: %s", m->cmd, rcpt_strerror(re));
		return 1;
	}
	return 0;
}

/* The statement's digest under the contract's domain, and its
 * signature; for open, s->id becomes the job id.  0, 1 or 2. */
static int stmt_digest_sign(const struct money *m, struct stmt *s,
			    const struct money_evm_flags *f, enum money_stmt_op op)
{
	struct rcpt_domain dom;
	struct rcpt_diag d = { "" };
	uint8_t digest[RCPT_HASH_BYTES], rid[RCPT_HASH_BYTES];
	enum rcpt_err re;

	ASSAY_ASSERT(op == MONEY_OPEN || op == MONEY_RECEIPT || op == MONEY_ATTEST);
	ASSAY_ASSERT(m->chain_id != 0);
	rcpt_domain_assay(&dom, m->chain_id, m->escrow);
	if (op == MONEY_OPEN) {
		re = rcpt_job_id(s->id, &d, &dom, &s->job);
		if (!re)
			return stmt_sign(m, s, f, "JobSpec", s->id, s->job.customer);
	} else {
		re = rcpt_receipt_id(rid, &d, &dom, &s->rec);
		if (!re && op == MONEY_RECEIPT)
			return stmt_sign(m, s, f, "Receipt", rid, s->rec.provider);
		if (!re && memcmp(s->att.receipt, rid, RCPT_HASH_BYTES) != 0) {
			cli_err("%s: the attestation names another receipt than --receipt '%s'",
				m->cmd, f->receipt);
			return 2;
		}
		if (!re)
			re = rcpt_attestation_digest(digest, &d, &dom, &s->att);
		if (!re)
			return stmt_sign(m, s, f, "Attestation", digest, s->att.validator);
	}
	cli_err("%s: the statement does not hash: %s", m->cmd,
		d.msg[0] ? d.msg : rcpt_strerror(re));
	return 2;
}

/* ------------------------------------------------------------------ */
/* The job as the contract holds it                                     */

/* jobInfo(job)'s words: the Job struct of AssayEscrow.sol, in order. */
enum { JI_CUSTOMER, JI_DEADLINE, JI_OPENED_AT, JI_STATE, JI_DISPUTES, JI_PROVIDER,
	JI_WINDOW_END, JI_MAX_PRICE, JI_PRICE, JI_COMMITMENT, JI_WORDS_ };

/* The job's words as JSON (the object's first keys).  NULL when a word
 * is not of its type. */
static json_t *job_json(const char *idhex, const struct rcpt_u256 w[JI_WORDS_], uint8_t state)
{
	uint8_t cust[RCPT_ADDR_BYTES], prov[RCPT_ADDR_BYTES], disputes;
	char c[RCPT_ADDR_HEX_BYTES], p[RCPT_ADDR_HEX_BYTES], mp[RCPT_U256_DEC_BYTES],
		pr[RCPT_U256_DEC_BYTES], rc[RCPT_HASH_HEX_BYTES];
	uint64_t deadline, opened, window;
	int has_receipt = state >= 2 && state <= 4;

	ASSAY_ASSERT(state <= STMT_STATE_MAX && idhex);

	if (evm_abi_word_addr(cust, &w[JI_CUSTOMER]) || evm_abi_word_addr(prov, &w[JI_PROVIDER]) ||
	    evm_abi_word_u64(&deadline, &w[JI_DEADLINE]) ||
	    evm_abi_word_u64(&opened, &w[JI_OPENED_AT]) ||
	    evm_abi_word_u64(&window, &w[JI_WINDOW_END]) ||
	    evm_abi_word_u8(&disputes, &w[JI_DISPUTES]) || deadline > RCPT_JSON_UINT_MAX ||
	    opened > RCPT_JSON_UINT_MAX || window > RCPT_JSON_UINT_MAX ||
	    rcpt_hex_encode(rc, sizeof(rc), w[JI_COMMITMENT].be, RCPT_HASH_BYTES))
		return NULL;
	rcpt_address_format(c, cust);
	rcpt_address_format(p, prov);
	rcpt_u256_format(mp, &w[JI_MAX_PRICE]);
	rcpt_u256_format(pr, &w[JI_PRICE]);
	/* The commitment word is the receipt id once a receipt is in. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:s?}", "job", idhex,
			 "state", stmt_states[state], "customer", c, "provider", p, "maxPrice", mp, "price",
			 pr, "deadline", (json_int_t)deadline, "openedAt", (json_int_t)opened,
			 "windowEnd", (json_int_t)window, "openDisputes", (int)disputes, "receipt",
			 has_receipt ? rc : NULL);
}

/* Prints job id's jobState and jobInfo, both read at `block`
 * (EVM_BLOCK_LATEST: the current block, read first).  0 or 1. */
static int print_job(struct money *m, const uint8_t id[RCPT_HASH_BYTES], uint64_t block)
{
	uint8_t buf[MONEY_CALL_BYTES], state = 0;
	char idhex[RCPT_HASH_HEX_BYTES], esc[RCPT_ADDR_HEX_BYTES];
	struct rcpt_u256 st, w[JI_WORDS_];
	enum evm_rpc_err rc;
	struct evm_buf b;
	json_t *o = NULL;

	ASSAY_ASSERT(m->rpc && id);
	if (block == EVM_BLOCK_LATEST && (rc = evm_rpc_block_number(m->rpc, &block)) != 0)
		return money_rpc_fail(m, "reading the block number", rc);
	if (rcpt_hex_encode(idhex, sizeof(idhex), id, RCPT_HASH_BYTES) || block > RCPT_JSON_UINT_MAX) {
		cli_err("%s: the node's block number is above 2^53", m->cmd);
		return 1;
	}
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_b32(&b, "jobState(bytes32)", id);
	if (money_call_words(m, &st, 1, m->escrow, &b, block, "jobState(bytes32)"))
		return 1;
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_b32(&b, "jobInfo(bytes32)", id);
	if (money_call_words(m, w, JI_WORDS_, m->escrow, &b, block, "jobInfo(bytes32)"))
		return 1;
	if (evm_abi_word_u8(&state, &st) || state > STMT_STATE_MAX ||
	    rcpt_u256_cmp(&st, &w[JI_STATE]) != 0 || !(o = job_json(idhex, w, state))) {
		cli_err("%s: the escrow's jobState and jobInfo of %s are not a job's", m->cmd, idhex);
		return 1;
	}
	if (state == 0) {
		json_decref(o);
		cli_err("%s: job %s is unknown to the escrow (jobState 0) at block %llu", m->cmd,
			idhex, (unsigned long long)block);
		return 1;
	}
	rcpt_address_format(esc, m->escrow);
	if (json_object_set_new(o, "chainId", json_integer((json_int_t)m->chain_id)) ||
	    json_object_set_new(o, "escrow", json_string(esc)) ||
	    json_object_set_new(o, "block", json_integer((json_int_t)block))) {
		json_decref(o);
		o = NULL;
	}
	return money_print(m, o);
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */

/* The operation's calldata into b (a buffer of EVM_TX_DATA_BYTES_MAX)
 * and its description.  0, or 2 (a statement too large to send). */
static int stmt_call(const struct money *m, struct evm_buf *b, char *what, size_t what_len,
		     const struct stmt *s, enum money_stmt_op op)
{
	char idhex[RCPT_HASH_HEX_BYTES];
	enum rcpt_err re = RCPT_OK;

	ASSAY_ASSERT(b->len == 0 && b->cap >= MONEY_CALL_BYTES && op != MONEY_JOB);
	if (rcpt_hex_encode(idhex, sizeof(idhex), s->id, RCPT_HASH_BYTES) != RCPT_OK)
		return 2;
	if (op == MONEY_OPEN)
		re = evm_abi_call_open_job(b, &s->job, s->sig);
	else if (op == MONEY_RECEIPT)
		re = evm_abi_call_submit_receipt(b, &s->rec, s->sig);
	else if (op == MONEY_ATTEST)
		re = evm_abi_call_attest(b, &s->att, s->sig, &s->rec);
	else
		evm_abi_call_b32(b, "settle(bytes32)", s->id);
	if (re != RCPT_OK || b->overflow) {
		cli_err("%s: the calldata does not encode: %s", m->cmd,
			rcpt_strerror(re ? re : RCPT_ERR_TOO_LARGE));
		return 2;
	}
	snprintf(what, what_len, "%s(job %s)", op == MONEY_OPEN ? "openJob"
		 : op == MONEY_RECEIPT ? "submitReceipt" : op == MONEY_ATTEST ? "attest" : "settle",
		 idhex);
	return 0;
}

/* Signs (for a statement), sends and prints.  0, 1 or 2. */
static int stmt_send(struct money *m, struct stmt *s, const struct money_evm_flags *f,
		     enum money_stmt_op op)
{
	char what[MONEY_WHAT_BYTES];
	struct evm_buf b;
	uint8_t *buf;
	int rc = 0;

	ASSAY_ASSERT(m->have_sender && op != MONEY_JOB);
	if (op != MONEY_SETTLE)
		rc = stmt_digest_sign(m, s, f, op);
	if (rc)
		return rc;
	buf = malloc(EVM_TX_DATA_BYTES_MAX);
	if (!buf) {
		cli_err("%s: out of memory", m->cmd);
		return 1;
	}
	evm_buf_init(&b, buf, EVM_TX_DATA_BYTES_MAX);
	rc = stmt_call(m, &b, what, sizeof(what), s, op);
	if (!rc)
		rc = money_send_tx(m, what, m->escrow, &b);
	free(buf);
	if (!rc)
		rc = print_job(m, s->id, m->last_block);
	return rc;
}

int money_evm_statement(const char *cmd, const struct money_evm_flags *f,
			enum money_stmt_op op, const char *id, const char *file)
{
	struct money m;
	struct stmt *s;
	int rc;

	ASSAY_ASSERT(cmd && f && op >= MONEY_OPEN && op <= MONEY_JOB && !f->mint);
	ASSAY_ASSERT((op == MONEY_OPEN) == (id == NULL));
	ASSAY_ASSERT((op == MONEY_SETTLE || op == MONEY_JOB) == (file == NULL));
	memset(&m, 0, sizeof(m));
	m.cmd = cmd;
	/* struct stmt is some 3 KiB of strings: on the heap. */
	s = calloc(1, sizeof(*s));
	if (!s) {
		cli_err("%s: out of memory", cmd);
		return 1;
	}
	rc = check_flags(&m, f, op);
	if (!rc)
		rc = read_stmts(&m, s, f, op, id, file);
	if (!rc)
		rc = money_args(&m, f);
	if (!rc && op != MONEY_JOB)
		rc = money_sender(&m, f->relayer ? f->relayer : f->key);
	if (!rc)
		rc = money_connect(&m);
	if (!rc)
		rc = op == MONEY_JOB ? print_job(&m, s->id, EVM_BLOCK_LATEST) : stmt_send(&m, s, f, op);
	money_release(&m);
	/* The signature is public once sent; the struct holds no secret. */
	free(s);
	ASSAY_ASSERT(rc >= 0 && rc <= 2);
	return rc;
}
