/*
 * escrowfx.h: the fixture the suites share for driving a real
 * assay-escrow over loopback (prefix efx_): test_escrow.c,
 * test_escrow_ext.c and the end-to-end half of test_validator.c.
 *
 * One escrow per test process (Criterion runs each test in its own):
 * efx_setup makes a private PostgreSQL database, a key and a temporary
 * directory, starts $ASSAY_BUILD/bin/assay-escrow on 127.0.0.1:0 and
 * records it all in EFX, which every helper below talks to.
 * efx_teardown, the tests' .fini, stops it, checks the ledger
 * invariants (chain_check_invariants) on its database, drops the
 * database and removes the directory (ASSAY_TEST_KEEP=1 keeps it).
 *
 * Every helper aborts the test (cr_assert) when the escrow does not
 * answer or answers other than the helper says it must; the ones that
 * hand back a struct hc_resp leave its status to the caller, who frees
 * it with hc_resp_free.
 */
#ifndef ASSAY_ESCROWFX_H
#define ASSAY_ESCROWFX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "httpc.h"
#include "kernels.h"
#include "pgutil.h"
#include "receipts.h"

/* The escrow's --min-stake, what the fixture's parties stake past. */
#define EFX_MIN_STAKE 1000
/* How long efx_wait_state polls when the config names no wait_ms. */
#define EFX_WAIT_MS 20000
/* The chain id when the config names none (the escrow's devnet default). */
#define EFX_CHAIN_ID 31337

/* How the escrow is started: always --devnet, --min-stake 1000,
 * --slash-bps 5000 and --bounty-bps 2000.  A flag whose field is 0 is
 * not passed (the escrow's default; none of them may be 0). */
struct efx_config {
	unsigned window_s;        /* --challenge-window-s */
	unsigned referee_s;       /* --referee-deadline-s */
	unsigned unbonding_s;     /* --unbonding-s (and the invariant check's) */
	unsigned sample_bps;      /* --sample-bps */
	uint64_t chain_id;        /* --chain-id; the domain's chain id, EFX_CHAIN_ID if 0 */
	unsigned wait_ms;         /* efx_wait_state's limit; 0: EFX_WAIT_MS */
	int escrow_rates;         /* the escrow's own rate limits, not 100000 a second */
	int alone;                /* the database by pgt_db_create_alone (restart tests) */
	int quiet;                /* --quiet */
	const char *tablespace;   /* the database's tablespace; NULL: the default */
	const char *const *extra_args;  /* more flags, NULL-terminated; may be NULL */
};

struct efx {
	struct efx_config cfg;
	struct pgt_db db;
	int have_db;
	char dir[256];            /* the test's directory: key and log */
	char key_path[320];       /* DIR/escrow.key */
	char log_path[320];       /* DIR/escrow.log, the escrow's stderr */
	uint8_t addr[RCPT_ADDR_BYTES];   /* the escrow's address */
	struct rcpt_domain dom;   /* the EIP-712 domain its statements use */
	pid_t pid;                /* 0 when not running */
	uint16_t port;
	char url[64];             /* http://127.0.0.1:PORT */
	/* The ledger checked after every mutating request (efx_post_idem,
	 * efx_signed_req and what calls them): opened on first use. */
	struct chain *inv_chain;
};

/* The escrow of this test process. */
extern struct efx EFX;

/* ---------------------------------------------------------------- the service */

/* Fills EFX afresh from *cfg (copied) and starts the escrow. */
void efx_setup(const struct efx_config *cfg);
/* Starts the escrow of *e (its database, key and config) and records its
 * pid, port and url in *e; used again after efx_stop to restart it. */
void efx_spawn(struct efx *e);
/* The same, or the exit status (>= 0) when the escrow exits before it
 * listens (then e is not running); -1 when it runs. */
int efx_try_spawn(struct efx *e);
/* Sends sig to e's escrow (if running) and reaps it. */
void efx_stop(struct efx *e, int sig);
/* The .fini: stops the escrow (SIGTERM), checks the ledger invariants,
 * drops the database, removes the directory; fails the test when the
 * invariants do not hold. */
void efx_teardown(void);
/* The ledger of EFX's database, opened on first use (NULL when it cannot
 * be reached); closed by efx_teardown. */
struct chain *efx_ledger(void);
/* Checks the ledger invariants now; fails the test naming `when`. */
void efx_invariants(const char *when);
/* The operator's anomaly flags (GET /v1/operator/anomalies signed by
 * op, which must answer 200) of `rule` about `who`, as an array the
 * caller decrefs; and the same polled (10 s) until there are `want` of
 * them, the first returned (NULL when want is 0). */
json_t *efx_flags(const struct rcpt_key *op, const char *rule,
		  const uint8_t who[RCPT_ADDR_BYTES]);
json_t *efx_flag_wait(const struct rcpt_key *op, const char *rule,
		      const uint8_t who[RCPT_ADDR_BYTES], size_t want);
/* A connection to EFX's database (the caller PQfinishes it), and the
 * one-value answer of sql there (malloc'd); either fails the test when
 * the database or the query does. */
PGconn *efx_db_conn(void);
char *efx_db_value(const char *sql);
/* Whether the escrow's log (its stderr) holds `needle` (memmem: the log
 * is bytes). */
int efx_log_has(const char *needle);
/* The value of an unlabelled metric on the escrow's /metrics; -1 when
 * absent. */
double efx_metric(const char *family);

/* ---------------------------------------------------------------- HTTP */

/* The answer's body as JSON (duplicate keys refused); the caller decrefs. */
json_t *efx_jparse(const struct hc_resp *r);
void efx_get(struct hc_resp *r, const char *target);
/* An unsigned POST of body (a string) with that Idempotency-Key. */
void efx_post_idem(struct hc_resp *r, const char *target, const char *idem,
		   const char *body);
/* A request signed by k; idem (may be NULL: none) and body (may be
 * NULL) as given; `as` (may be NULL) overrides Assay-Address, `ts_off`
 * shifts the signed timestamp from now. */
void efx_signed_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
		    const char *target, const char *idem, const char *body,
		    const char *as, long ts_off);
/* Signed by k when k is non-NULL, unsigned otherwise; any method but
 * GET with a fresh Idempotency-Key (and then a body, a string). */
void efx_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
	     const char *target, const char *body);
/* efx_req(r, k, "POST", target, body). */
void efx_spost(struct hc_resp *r, const struct rcpt_key *k, const char *target,
	       const char *body);
/* The answer is `status` with problem type urn:assay:problem:SLUG. */
void efx_expect_problem(const struct hc_resp *r, int status, const char *slug);
/* The same, and frees the answer. */
void efx_refused(struct hc_resp *r, int status, const char *slug);
/* A fresh Idempotency-Key ("t-PID-N") into buf; returns buf. */
const char *efx_fresh_idem(char buf[48]);
/* n bytes as base64 (malloc'd, the caller frees). */
char *efx_b64(const uint8_t *p, size_t n);

/* ---------------------------------------------------------------- accounts */

struct efx_bal {
	uint64_t available, stake, unbonding;
};

struct efx_bal efx_balance_of(const uint8_t who[RCPT_ADDR_BYTES]);
int efx_bal_eq(struct efx_bal a, struct efx_bal b);
/* The devnet faucet to k, and k staking from its account; both must
 * answer 200. */
void efx_faucet(const struct rcpt_key *k, uint64_t amount);
void efx_stake(const struct rcpt_key *k, uint64_t amount);

struct efx_parties {
	struct rcpt_key customer, provider, validator, stranger;
};

/* Fresh keys; the customer funded with 100000, the provider with 200000
 * and 100000 of it staked, the validator 50000 and 10000 staked, the
 * stranger funded with stranger_amount (0: not at all). */
void efx_parties_setup(struct efx_parties *p, uint64_t stranger_amount);

/* ---------------------------------------------------------------- jobs */

/* A job statement signed by its customer, its input and its honest
 * output (the CPU reference), and the last receipt made for it. */
struct efx_job {
	struct rcpt_job job;
	uint8_t id[RCPT_HASH_BYTES];
	char id_hex[RCPT_HASH_HEX_BYTES];
	uint8_t sig[RCPT_SIG_BYTES];
	uint8_t *input;               /* safetensors; freed by efx_job_free */
	size_t input_len;
	uint8_t *output;              /* the honest output; freed by efx_job_free */
	size_t output_len;
	struct rcpt_commitment out;   /* the honest output's commitment */
	struct rcpt_receipt receipt;
	uint8_t receipt_id[RCPT_HASH_BYTES];
	uint8_t receipt_sig[RCPT_SIG_BYTES];
};

/* reduce_sum_f32@1 over x = {1, 2, 3, x3}, for p's customer and provider. */
void efx_job_make_sum(struct efx_job *f, const struct efx_parties *p, float x3,
		      uint64_t max_price, uint64_t deadline, uint64_t nonce);
/* efx_job_make_sum with x3 = nonce, so that each job has its own input. */
/* A job of any kernel on the tensors `in` with `params` (and, for a
 * model kernel, `model`; else NULL), its output computed here. */
void efx_job_make_kernel(struct efx_job *f, const struct efx_parties *p, const char *kernel,
			 const struct kern_tensors *in, const char *params,
			 const struct kern_tensors *model, uint64_t max_price, uint64_t deadline,
			 uint64_t nonce);
void efx_job_make(struct efx_job *f, const struct efx_parties *p, uint64_t max_price,
		  uint64_t deadline, uint64_t nonce);
/* softmax_f32@1 over x F32[rows, cols] (values depend on nonce);
 * rows * cols * 4 bytes of output, more than one 64 KiB chunk when
 * rows * cols > 16384. */
void efx_job_make_softmax(struct efx_job *f, const struct efx_parties *p,
			  uint64_t max_price, uint64_t deadline, uint64_t nonce,
			  uint64_t rows, uint64_t cols);
/* Recomputes the job's id and the customer's signature, after a test
 * edited f->job. */
void efx_job_sign(struct efx_job *f, const struct efx_parties *p);
void efx_job_free(struct efx_job *f);
/* {"job":...,"jobSignature":"..."EXTRA} (malloc'd); extra may be NULL. */
char *efx_job_body(const struct rcpt_job *job, const uint8_t sig[RCPT_SIG_BYTES],
		   const char *extra);
/* Opens the job (idem NULL: a fresh key); it must answer 201 naming it. */
void efx_job_open(struct efx_job *f, const char *idem);
/* Signs a receipt at `price` for the honest output, or with a wrong
 * outputRoot when `cheat`. */
void efx_receipt_make(struct efx_job *f, const struct efx_parties *p, uint64_t price,
		      int cheat);
/* Recomputes the receipt's id and the provider's signature, after a
 * test edited f->receipt. */
void efx_receipt_sign(struct efx_job *f, const struct efx_parties *p);
/* Signs a receipt at `price` for the output committed to by oc. */
void efx_receipt_make_for(struct efx_job *f, const struct efx_parties *p, uint64_t price,
			  const struct rcpt_commitment *oc);
/* POSTs f's receipt; the answer in *resp. */
/* f's receipt as the body of its POST (malloc'd); its target into target. */
char *efx_receipt_body(const struct efx_job *f, char target[128]);
void efx_receipt_post(struct hc_resp *resp, const struct efx_job *f, const char *idem);
/* The same with a fresh key; it must answer 200. */
void efx_receipt_post_ok(const struct efx_job *f);
/* A validator's attestation on f's receipt as a request body (malloc'd):
 * `verdict` with `output_root`, signed by v, and `extra` (may be NULL)
 * appended as further members. */
char *efx_claim_body(const struct efx_job *f, const struct rcpt_key *v,
		     const uint8_t output_root[32], int verdict, const char *extra);
/* POSTs efx_claim_body(...) to the job's attestations, a fresh key. */
void efx_claim_post(struct hc_resp *resp, const struct efx_job *f, const struct rcpt_key *v,
		    const uint8_t output_root[32], int verdict, const char *extra);
/* "input":"BASE64 OF f's INPUT", a member for efx_claim_body (malloc'd). */
char *efx_input_member(const struct efx_job *f);

/* GET /v1/jobs/{id}, which must answer 200; the caller decrefs. */
json_t *efx_job_get(const struct efx_job *f);
/* The job's state; the job must exist. */
void efx_job_state(char out[32], const struct efx_job *f);
/* The same, "none" when the escrow does not know the job. */
void efx_job_state_or_none(char out[32], const struct efx_job *f);
/* Polls the job's state until it is `want` (the config's wait_ms). */
void efx_wait_state(const struct efx_job *f, const char *want);

/* What one job and its three parties look like from outside. */
struct efx_snap {
	struct efx_bal c, pv, v;
	char state[32];               /* efx_job_state_or_none */
};

void efx_snap_take(struct efx_snap *s, const struct efx_parties *p, const struct efx_job *f);
/* Nothing moved between a and b; fails the test naming `what`. */
void efx_snap_same(const struct efx_snap *a, const struct efx_snap *b, const char *what);

#endif
