/*
 * test_chain_conformance.c: chain.h's statement calls, one set of
 * scenarios run against both backends:
 *
 *   chain_conf_pg:  the PostgreSQL backend (chain_pg_open with the
 *                   statement parameters) on its own database; after
 *                   every step the ledger's invariants I1-I6
 *                   (chain_check_invariants);
 *   chain_conf_evm: AssayEscrow and DevToken deployed with the same
 *                   parameters on a private anvil (one per test, from
 *                   chain-adapter/evm/node_modules: `make
 *                   contract-deps`; skipped with the reason where it is
 *                   missing), driven through chain_evm_open.
 *
 * A scenario sees a backend only through the fixture table below (struct
 * cf_backend): fund and stake an address (PostgreSQL: chain_faucet and
 * chain_stake; EVM: DevToken mint, then approve, deposit and stake sent
 * with evm_send from that address's own key), advance time (PostgreSQL:
 * the now_s the fixture keeps; anvil: evm_increaseTime + evm_mine), and
 * read what slashes gave the treasury.  Every expected amount and state
 * is computed here from the rules (docs/contract.md) and is the same for
 * both backends; nothing is read back from the code under test to be
 * expected.  Margins of time are minutes where a backend's clock may move
 * on its own (anvil stamps blocks with the wall clock plus the offset);
 * no test asserts on wall-clock time.
 *
 * Besides: the EVM backend's map of AssayEscrow's custom errors is held
 * against the contract's ABI (chain_conf_evm/every_custom_error_is_mapped),
 * and each backend's own refusals (the referee's key on the EVM; rules
 * off, bad parameters and the ledger calls on statement jobs on
 * PostgreSQL) have a test of their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "anvilfx.h"
#include "chain.h"
#include "evm.h"
#include "evm_chain_internal.h"
#include "evm_rpc.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

/* The rules of every test, on both backends (AssayEscrow's defaults but
 * the stake, small enough that amounts are plain integers here). */
#define CF_MIN_STAKE 100u
#define CF_SAMPLE_BPS 1000u
#define CF_SLASH_BPS 5000u
#define CF_BOUNTY_BPS 2000u
#define CF_WINDOW_S 3600u
#define CF_REFEREE_S 600u
#define CF_UNBONDING_S 604800u
#define CF_DAY_S 86400u
#define CF_PG_START_S 1700000000u
/* A margin for a clock that moves while a test runs (anvil). */
#define CF_SLACK_S 300u

/* The parties: their index is their anvil account. */
enum cf_party {
	CF_RELAYER = 0,      /* sends every statement; the contract's referee */
	CF_CUSTOMER,
	CF_PROVIDER,
	CF_VALIDATOR,
	CF_VALIDATOR2,
	CF_POOR,             /* staked below the minimum */
	CF_EXTRA,            /* CF_EXTRA .. CF_PARTIES - 1: validators for the cap */
	CF_PARTIES = CF_EXTRA + CHAIN_DISPUTES_PER_JOB_MAX + 1,
};

/* What every scenario starts from (cf_parties): available and bonded. */
#define CF_CUSTOMER_FUND 1000u
#define CF_PROVIDER_FUND 1100u
#define CF_PROVIDER_STAKE 1003u     /* exposure cap floor(1003 / 20) = 50 */
#define CF_VALIDATOR_FUND 300u
#define CF_VALIDATOR_STAKE 250u
#define CF_POOR_STAKE 50u

struct cf;

/* How a scenario reaches a backend. */
struct cf_backend {
	const char *name;
	void (*open)(struct cf *f);
	void (*close)(struct cf *f);
	void (*fund)(struct cf *f, int who, uint64_t amount);     /* -> available */
	void (*stake)(struct cf *f, int who, uint64_t amount);    /* available -> bonded */
	void (*unstake)(struct cf *f, int who, uint64_t amount);  /* bonded -> unbonding */
	void (*advance)(struct cf *f, uint64_t seconds);
	uint64_t (*now)(struct cf *f);                             /* the backend's time */
	uint64_t (*treasury)(struct cf *f);                        /* what slashes kept */
	int invariants;                                            /* check after each step */
};

struct cf {
	const struct cf_backend *be;
	struct chain *c;
	struct rcpt_key key[CF_PARTIES];
	uint8_t treasury[RCPT_ADDR_BYTES];
	/* PostgreSQL */
	struct pgt_db db;
	int have_db;
	uint64_t now_s;
	/* EVM */
	struct anvilfx anvil;
	const char *url;          /* anvil.url */
	struct evm_rpc *rpc;
	struct evm_sender snd[CF_PARTIES];
	int have_snd;
	uint8_t token[RCPT_ADDR_BYTES];
	uint8_t escrow[RCPT_ADDR_BYTES];
};

static struct cf F;

/* ------------------------------------------------------------------ */
/* Checks                                                               */

static void cf_invariants(struct cf *f, const char *after, int line)
{
	char why[256];
	enum chain_err rc;

	if (!f->be->invariants)
		return;
	rc = chain_check_invariants(f->c, why, sizeof(why));
	cr_assert_eq(rc, CHAIN_OK, "line %d, after %s: invariants: %s (%s)", line, after, why,
		     chain_errname(rc));
}

/* Runs a chain call, checks its answer, then (PostgreSQL) the invariants. */
#define CF_OP(f, want, call)                                                   \
	do {                                                                   \
		enum chain_err cf_rc_ = (call);                                \
		cr_assert_eq(cf_rc_, (want), "%s line %d: %s: got %s, want %s", \
			     (f)->be->name, __LINE__, #call,                   \
			     chain_errname(cf_rc_), chain_errname(want));      \
		cf_invariants((f), #call, __LINE__);                           \
	} while (0)

static uint64_t cf_low(const struct rcpt_u256 *x)
{
	uint64_t v = 0;

	for (int i = 0; i < 24; i++)
		cr_assert_eq(x->be[i], 0, "amount above 2^64");
	for (int i = 24; i < 32; i++)
		v = v << 8 | x->be[i];
	return v;
}

static const uint8_t *cf_addr(struct cf *f, int who)
{
	return f->key[who].address;
}

/* who's balances are exactly these. */
static void cf_expect(struct cf *f, int who, uint64_t avail, uint64_t bonded, uint64_t unbonding,
		      int line)
{
	struct chain_balance b;

	cr_assert_eq(chain_balance(f->c, &b, cf_addr(f, who)), CHAIN_OK);
	cr_assert_eq(cf_low(&b.available), avail, "%s line %d: party %d available %llu, want %llu",
		     f->be->name, line, who, (unsigned long long)cf_low(&b.available),
		     (unsigned long long)avail);
	cr_assert_eq(cf_low(&b.stake), bonded, "%s line %d: party %d bonded %llu, want %llu",
		     f->be->name, line, who, (unsigned long long)cf_low(&b.stake),
		     (unsigned long long)bonded);
	cr_assert_eq(cf_low(&b.unbonding), unbonding,
		     "%s line %d: party %d unbonding %llu, want %llu", f->be->name, line, who,
		     (unsigned long long)cf_low(&b.unbonding), (unsigned long long)unbonding);
}
#define CF_EXPECT(f, who, a, s, u) cf_expect((f), (who), (a), (s), (u), __LINE__)

static void cf_expect_job(struct cf *f, const uint8_t job[32], enum chain_job_state want, int line)
{
	enum chain_job_state s = (enum chain_job_state)99;

	cr_assert_eq(chain_job_state(f->c, &s, job), CHAIN_OK);
	cr_assert_eq(s, want, "%s line %d: job state %d, want %d", f->be->name, line, s, want);
}
#define CF_EXPECT_JOB(f, job, s) cf_expect_job((f), (job), (s), __LINE__)

static void cf_expect_dispute(struct cf *f, const uint8_t job[32], int validator,
			      enum chain_dispute_state want, int line)
{
	enum chain_dispute_state s = (enum chain_dispute_state)99;

	cr_assert_eq(chain_dispute_state(f->c, &s, NULL, job, cf_addr(f, validator)), CHAIN_OK);
	cr_assert_eq(s, want, "%s line %d: dispute state %d, want %d", f->be->name, line, s, want);
}
#define CF_EXPECT_DISPUTE(f, job, v, s) cf_expect_dispute((f), (job), (v), (s), __LINE__)

/* ------------------------------------------------------------------ */
/* Statements                                                           */

static struct rcpt_job cf_spec(struct cf *f, uint64_t max_price, uint64_t deadline,
			       uint64_t nonce)
{
	struct rcpt_job j;

	memset(&j, 0, sizeof(j));
	memcpy(j.customer, cf_addr(f, CF_CUSTOMER), RCPT_ADDR_BYTES);
	memcpy(j.provider, cf_addr(f, CF_PROVIDER), RCPT_ADDR_BYTES);
	snprintf(j.kernel, sizeof(j.kernel), "%s", "matmul_f32@1");
	memset(j.kernel_hash, 0x11, RCPT_HASH_BYTES);
	snprintf(j.params, sizeof(j.params), "%s", "{\"relu\":false}");
	memset(j.input_root, 0x22, RCPT_HASH_BYTES);
	j.input_size = 1234;
	rcpt_u256_from_u64(&j.max_price, max_price);
	j.deadline = deadline;
	j.nonce = nonce;
	return j;
}

static void cf_sign(struct cf *f, uint8_t sig[RCPT_SIG_BYTES], int who,
		    const uint8_t digest[RCPT_HASH_BYTES])
{
	cr_assert_eq(rcpt_sign_digest(sig, &f->key[who], digest), RCPT_OK);
}

/* The job id, computed here under the backend's domain. */
static void cf_job_id(struct cf *f, uint8_t id[32], const struct rcpt_job *j)
{
	struct rcpt_domain d;

	chain_domain(f->c, &d);
	cr_assert_eq(rcpt_job_id(id, NULL, &d, j), RCPT_OK);
}

static void cf_sign_job(struct cf *f, uint8_t sig[RCPT_SIG_BYTES], int who,
			const struct rcpt_job *j)
{
	uint8_t id[32];

	cf_job_id(f, id, j);
	cf_sign(f, sig, who, id);
}

/* Opens a job the customer signed; its id into job (checked against
 * the id computed here). */
static void cf_open(struct cf *f, uint8_t job[32], const struct rcpt_job *j)
{
	uint8_t sig[RCPT_SIG_BYTES], want[32];

	cf_sign_job(f, sig, CF_CUSTOMER, j);
	cf_job_id(f, want, j);
	CF_OP(f, CHAIN_OK, chain_open_job(f->c, job, j, sig, f->be->now(f)));
	cr_assert(memcmp(job, want, 32) == 0, "the job id is the JobSpec's digest");
}

/* The provider's receipt of job `job` for spec j: price, output root
 * byte `out`, run just now. */
static struct rcpt_receipt cf_receipt(struct cf *f, const uint8_t job[32],
				      const struct rcpt_job *j, uint64_t price, uint8_t out)
{
	struct rcpt_receipt r;
	uint64_t now_ms = f->be->now(f) * 1000;

	memset(&r, 0, sizeof(r));
	memcpy(r.job, job, 32);
	memcpy(r.kernel_hash, j->kernel_hash, 32);
	memcpy(r.input_root, j->input_root, 32);
	r.input_size = j->input_size;
	memset(r.output_root, out, 32);
	r.output_size = 4096;
	rcpt_u256_from_u64(&r.price, price);
	snprintf(r.device, sizeof(r.device), "%s", "cpu");
	r.started_at_ms = now_ms;
	r.finished_at_ms = now_ms + 1000;
	memcpy(r.provider, j->provider, RCPT_ADDR_BYTES);
	return r;
}

static void cf_receipt_id(struct cf *f, uint8_t id[32], const struct rcpt_receipt *r)
{
	struct rcpt_domain d;

	chain_domain(f->c, &d);
	cr_assert_eq(rcpt_receipt_id(id, NULL, &d, r), RCPT_OK);
}

/* Submits r signed by `who`; expects `want`. */
static void cf_submit_as(struct cf *f, enum chain_err want, const struct rcpt_receipt *r,
			 int who, int line)
{
	uint8_t sig[RCPT_SIG_BYTES], id[32], got[32];
	enum chain_err rc;

	cf_receipt_id(f, id, r);
	cf_sign(f, sig, who, id);
	rc = chain_submit_receipt(f->c, got, r, sig, f->be->now(f));
	cr_assert_eq(rc, want, "%s line %d: submit_receipt: got %s, want %s", f->be->name, line,
		     chain_errname(rc), chain_errname(want));
	if (rc == CHAIN_OK)
		cr_assert(memcmp(got, id, 32) == 0, "the receipt id is the Receipt's digest");
	cf_invariants(f, "submit_receipt", line);
}
#define CF_SUBMIT(f, want, r) cf_submit_as((f), (want), (r), CF_PROVIDER, __LINE__)

/* An attestation by `who` of receipt r: verdict, output root byte. */
static void cf_attest_as(struct cf *f, enum chain_err want, const struct rcpt_receipt *r,
			 int who, uint8_t verdict, uint8_t out, int line)
{
	struct rcpt_attestation a;
	struct rcpt_domain d;
	uint8_t sig[RCPT_SIG_BYTES], dig[32];
	enum chain_err rc;

	memset(&a, 0, sizeof(a));
	cf_receipt_id(f, a.receipt, r);
	memset(a.output_root, out, 32);
	a.verdict = verdict;
	memcpy(a.validator, cf_addr(f, who), RCPT_ADDR_BYTES);
	chain_domain(f->c, &d);
	cr_assert_eq(rcpt_attestation_digest(dig, NULL, &d, &a), RCPT_OK);
	cf_sign(f, sig, who, dig);
	rc = chain_attest(f->c, &a, sig, r, f->be->now(f));
	cr_assert_eq(rc, want, "%s line %d: attest: got %s, want %s", f->be->name, line,
		     chain_errname(rc), chain_errname(want));
	cf_invariants(f, "attest", line);
}
#define CF_ATTEST(f, want, r, who, verdict, out)                               \
	cf_attest_as((f), (want), (r), (who), (verdict), (out), __LINE__)

/* The starting point of every scenario. */
static void cf_parties(struct cf *f)
{
	f->be->fund(f, CF_CUSTOMER, CF_CUSTOMER_FUND);
	f->be->fund(f, CF_PROVIDER, CF_PROVIDER_FUND);
	f->be->stake(f, CF_PROVIDER, CF_PROVIDER_STAKE);
	f->be->fund(f, CF_VALIDATOR, CF_VALIDATOR_FUND);
	f->be->stake(f, CF_VALIDATOR, CF_VALIDATOR_STAKE);
	f->be->fund(f, CF_VALIDATOR2, CF_VALIDATOR_FUND);
	f->be->stake(f, CF_VALIDATOR2, CF_VALIDATOR_STAKE);
	f->be->fund(f, CF_POOR, CF_POOR_STAKE);
	f->be->stake(f, CF_POOR, CF_POOR_STAKE);
}

/* The rules' arithmetic, done here: slashBps of a bond, bountyBps of a
 * slash, the exposure cap; all rounded down. */
static uint64_t cf_slash_of(uint64_t bond)
{
	return bond * CF_SLASH_BPS / CHAIN_BPS;
}

static uint64_t cf_bounty_of(uint64_t slash)
{
	return slash * CF_BOUNTY_BPS / CHAIN_BPS;
}

static uint64_t cf_cap_of(uint64_t bond)
{
	return bond * CF_SAMPLE_BPS * CF_SLASH_BPS / (CHAIN_BPS * CHAIN_BPS);
}

/* ------------------------------------------------------------------ */
/* The PostgreSQL backend                                               */

static struct chain_params cf_pg_params(void)
{
	struct chain_params p;

	memset(&p, 0, sizeof(p));
	p.chain_id = 31337;
	p.devnet = 1;
	rcpt_u256_from_u64(&p.min_stake, CF_MIN_STAKE);
	p.unbonding_s = CF_UNBONDING_S;
	p.sample_bps = CF_SAMPLE_BPS;
	p.slash_bps = CF_SLASH_BPS;
	p.bounty_bps = CF_BOUNTY_BPS;
	p.challenge_window_s = CF_WINDOW_S;
	p.referee_deadline_s = CF_REFEREE_S;
	return p;
}

static const uint8_t CF_PG_ESCROW[RCPT_ADDR_BYTES] = { 0xe5, 0xc0, 0x00, 0x02 };

static void cf_pg_open(struct cf *f)
{
	struct chain_params p = cf_pg_params();
	struct rcpt_diag d;
	enum chain_err rc;

	pgt_db_create(&f->db);
	f->have_db = 1;
	rc = chain_pg_open(&f->c, &d, f->db.conninfo, &p, CF_PG_ESCROW);
	cr_assert_eq(rc, CHAIN_OK, "chain_pg_open: %s: %s", chain_errname(rc), d.msg);
	for (int i = 0; i < CF_PARTIES; i++)
		cr_assert_eq(rcpt_key_generate(&f->key[i]), RCPT_OK);
	f->now_s = CF_PG_START_S;
}

static void cf_pg_close(struct cf *f)
{
	chain_free(f->c);
	f->c = NULL;
	if (f->have_db)
		pgt_db_drop(&f->db);
	f->have_db = 0;
}

static void cf_pg_fund(struct cf *f, int who, uint64_t amount)
{
	struct rcpt_u256 a;

	rcpt_u256_from_u64(&a, amount);
	CF_OP(f, CHAIN_OK, chain_faucet(f->c, cf_addr(f, who), &a, f->now_s, NULL));
}

static void cf_pg_stake(struct cf *f, int who, uint64_t amount)
{
	struct rcpt_u256 a;

	rcpt_u256_from_u64(&a, amount);
	CF_OP(f, CHAIN_OK, chain_stake(f->c, cf_addr(f, who), &a, f->now_s, NULL));
}

static void cf_pg_unstake(struct cf *f, int who, uint64_t amount)
{
	struct rcpt_u256 a;

	rcpt_u256_from_u64(&a, amount);
	CF_OP(f, CHAIN_OK, chain_unstake(f->c, cf_addr(f, who), &a, f->now_s, NULL));
}

static void cf_pg_advance(struct cf *f, uint64_t s)
{
	f->now_s += s;
}

static uint64_t cf_pg_now(struct cf *f)
{
	return f->now_s;
}

/* The treasury is a system account: the sum of the slash_keep events. */
static uint64_t cf_pg_treasury(struct cf *f)
{
	struct chain_event ev[64];
	uint64_t sum = 0, after = 0;
	size_t n = 0;

	do {
		cr_assert_eq(chain_events(f->c, ev, &n, 64, after), CHAIN_OK);
		for (size_t i = 0; i < n; i++)
			if (ev[i].kind == CHAIN_EV_SLASH_KEEP)
				sum += cf_low(&ev[i].amount);
		if (n)
			after = ev[n - 1].seq;
	} while (n);
	return sum;
}

static const struct cf_backend CF_PG = {
	.name = "postgresql", .open = cf_pg_open, .close = cf_pg_close, .fund = cf_pg_fund,
	.stake = cf_pg_stake, .unstake = cf_pg_unstake, .advance = cf_pg_advance,
	.now = cf_pg_now, .treasury = cf_pg_treasury, .invariants = 1,
};

/* ------------------------------------------------------------------ */
/* The EVM backend: anvil, DevToken, AssayEscrow                        */

static void cf_anvil_start(struct cf *f)
{
	anvilfx_start_n(&f->anvil, CF_PARTIES, NULL);
	f->url = f->anvil.url;
	for (unsigned i = 0; i < CF_PARTIES; i++)
		anvilfx_dev_key(&f->key[i], &f->anvil, i);
}

static void cf_anvil_call(struct cf *f, const char *method, const char *params)
{
	json_decref(anvilfx_call(&f->anvil, method, params));
}

/* Sends data (to `to`, or a creation when to is NULL) from party `who`;
 * returns the created contract's address into created when asked. */
static void cf_evm_tx(struct cf *f, int who, const uint8_t *to, const uint8_t *data,
		      size_t len, uint8_t *created)
{
	struct evm_sent sent;
	struct evm_tx tx;
	enum evm_rpc_err rc;

	memset(&tx, 0, sizeof(tx));
	tx.has_to = to != NULL;
	if (to)
		memcpy(tx.to, to, RCPT_ADDR_BYTES);
	tx.data = data;
	tx.data_len = len;
	rc = evm_send(f->rpc, &f->snd[who], &tx, NULL, &sent);
	cr_assert_eq(rc, EVM_RPC_OK, "party %d: %s", who, evm_rpc_why(f->rpc));
	cr_assert_eq(sent.receipt.status, 1);
	if (created) {
		cr_assert(sent.receipt.has_contract);
		memcpy(created, sent.receipt.contract, RCPT_ADDR_BYTES);
	}
	evm_receipt_release(&sent.receipt);
}

static void cf_evm_deploy(struct cf *f)
{
	static const uint64_t params[7] = {
		CF_MIN_STAKE, CF_SAMPLE_BPS, CF_SLASH_BPS, CF_BOUNTY_BPS,
		CF_WINDOW_S, CF_REFEREE_S, CF_UNBONDING_S,
	};
	struct rcpt_u256 w[10];
	struct evm_buf b;
	size_t len;
	uint8_t *code = anvilfx_initcode(&len, "DevToken", 0);

	cf_evm_tx(f, CF_RELAYER, NULL, code, len, f->token);
	free(code);
	code = anvilfx_initcode(&len, "AssayEscrow", sizeof(w));
	evm_abi_word_from_addr(&w[0], f->token);
	evm_abi_word_from_addr(&w[1], cf_addr(f, CF_RELAYER));   /* referee */
	evm_abi_word_from_addr(&w[2], f->treasury);
	for (int i = 0; i < 7; i++)
		rcpt_u256_from_u64(&w[3 + i], params[i]);
	evm_buf_init(&b, code + len, sizeof(w));
	evm_abi_words(&b, w, 10);
	cr_assert(!b.overflow);
	cf_evm_tx(f, CF_RELAYER, NULL, code, len + b.len, f->escrow);
	free(code);
}

static void cf_evm_open(struct cf *f)
{
	struct rcpt_diag d;
	enum chain_err rc;
	char why[256];

	cr_assert_eq(evm_rpc_global_init(), 0);
	cf_anvil_start(f);
	cr_assert_eq(evm_rpc_open(&f->rpc, why, sizeof(why), f->url, 0), EVM_RPC_OK, "%s", why);
	for (int i = 0; i < CF_PARTIES; i++)
		cr_assert_eq(evm_sender_init(&f->snd[i], &f->key[i]), 0);
	f->have_snd = 1;
	memset(f->treasury, 0x7e, RCPT_ADDR_BYTES);
	cf_evm_deploy(f);
	rc = chain_evm_open(&f->c, &d, f->url, f->escrow, &f->key[CF_RELAYER], 0);
	cr_assert_eq(rc, CHAIN_OK, "chain_evm_open: %s: %s", chain_errname(rc), d.msg);
}

static void cf_evm_close(struct cf *f)
{
	chain_free(f->c);
	f->c = NULL;
	for (int i = 0; f->have_snd && i < CF_PARTIES; i++)
		evm_sender_release(&f->snd[i]);
	f->have_snd = 0;
	evm_rpc_free(f->rpc);
	f->rpc = NULL;
	anvilfx_stop(&f->anvil);
	f->url = NULL;
}

/* f(uint256) on the escrow from `who`. */
static void cf_evm_escrow_u256(struct cf *f, int who, const char *sig, uint64_t amount)
{
	uint8_t data[EVM_SELECTOR_BYTES + EVM_WORD_BYTES];
	struct rcpt_u256 a;
	struct evm_buf b;

	rcpt_u256_from_u64(&a, amount);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_u256(&b, sig, &a);
	cf_evm_tx(f, who, f->escrow, data, b.len, NULL);
}

/* DevToken mint (by the relayer), then approve and deposit by `who`. */
static void cf_evm_fund(struct cf *f, int who, uint64_t amount)
{
	uint8_t data[EVM_SELECTOR_BYTES + 2 * EVM_WORD_BYTES];
	struct rcpt_u256 a;
	struct evm_buf b;

	rcpt_u256_from_u64(&a, amount);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr_u256(&b, "mint(address,uint256)", cf_addr(f, who), &a);
	cf_evm_tx(f, CF_RELAYER, f->token, data, b.len, NULL);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr_u256(&b, "approve(address,uint256)", f->escrow, &a);
	cf_evm_tx(f, who, f->token, data, b.len, NULL);
	cf_evm_escrow_u256(f, who, "deposit(uint256)", amount);
}

static void cf_evm_stake(struct cf *f, int who, uint64_t amount)
{
	cf_evm_escrow_u256(f, who, "stake(uint256)", amount);
}

static void cf_evm_unstake(struct cf *f, int who, uint64_t amount)
{
	cf_evm_escrow_u256(f, who, "unstake(uint256)", amount);
}

static void cf_evm_advance(struct cf *f, uint64_t s)
{
	char params[32];

	snprintf(params, sizeof(params), "[%llu]", (unsigned long long)s);
	cf_anvil_call(f, "evm_increaseTime", params);
	cf_anvil_call(f, "evm_mine", "[]");
}

static uint64_t cf_evm_now(struct cf *f)
{
	struct evm_block b;

	cr_assert_eq(evm_rpc_block(f->rpc, &b, EVM_BLOCK_LATEST), EVM_RPC_OK, "%s",
		     evm_rpc_why(f->rpc));
	return b.timestamp_s;
}

/* The treasury is an address: its available balance. */
static uint64_t cf_evm_treasury(struct cf *f)
{
	struct chain_balance b;

	cr_assert_eq(chain_balance(f->c, &b, f->treasury), CHAIN_OK);
	return cf_low(&b.available);
}

static const struct cf_backend CF_EVM = {
	.name = "evm", .open = cf_evm_open, .close = cf_evm_close, .fund = cf_evm_fund,
	.stake = cf_evm_stake, .unstake = cf_evm_unstake, .advance = cf_evm_advance,
	.now = cf_evm_now, .treasury = cf_evm_treasury, .invariants = 0,
};

static void cf_fini(void)
{
	if (F.be)
		F.be->close(&F);
	for (int i = 0; i < CF_PARTIES; i++)
		rcpt_key_wipe(&F.key[i]);
	memset(&F, 0, sizeof(F));
}

/* Opens the backend, sets the parties up, runs the scenario (NULL: the
 * test goes on itself). */
static void cf_run(const struct cf_backend *be, void (*scenario)(struct cf *f))
{
	memset(&F, 0, sizeof(F));
	F.be = be;
	be->open(&F);
	cf_parties(&F);
	if (scenario)
		scenario(&F);
}

/* Each scenario, once per backend. */
#define CF_SCENARIO(name)                                                      \
	static void sc_##name(struct cf *f);                                   \
	Test(chain_conf_pg, name, .fini = cf_fini, .timeout = 120)             \
	{                                                                      \
		cf_run(&CF_PG, sc_##name);                                     \
	}                                                                      \
	Test(chain_conf_evm, name, .fini = cf_fini, .timeout = 240)            \
	{                                                                      \
		cf_run(&CF_EVM, sc_##name);                                    \
	}                                                                      \
	static void sc_##name(struct cf *f)

/* ------------------------------------------------------------------ */
/* The scenarios                                                        */

CF_SCENARIO(rules_are_the_parameters)
{
	struct chain_rules r;

	CF_OP(f, CHAIN_OK, chain_rules(f->c, &r));
	cr_assert_eq(cf_low(&r.min_stake), CF_MIN_STAKE);
	cr_assert_eq(r.sample_bps, CF_SAMPLE_BPS);
	cr_assert_eq(r.slash_bps, CF_SLASH_BPS);
	cr_assert_eq(r.bounty_bps, CF_BOUNTY_BPS);
	cr_assert_eq(r.challenge_window_s, CF_WINDOW_S);
	cr_assert_eq(r.referee_deadline_s, CF_REFEREE_S);
	cr_assert_eq(r.unbonding_s, CF_UNBONDING_S);
	cr_assert_eq(r.deadline_max_s, 30u * CF_DAY_S);
	cr_assert_eq(r.clock_skew_ms, 60000u);
	cr_assert_eq(r.disputes_per_job_max, 8u);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
}

/* Open, receipt, settle after the window: price to the provider, the
 * rest back to the customer. */
CF_SCENARIO(happy_life)
{
	const uint64_t max_price = 40, price = 30;
	struct rcpt_job j = cf_spec(f, max_price, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	CF_EXPECT_JOB(f, (uint8_t[32]){ 0x99 }, CHAIN_JOB_UNKNOWN);
	cf_open(f, job, &j);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_OPEN);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - max_price, 0, 0);
	r = cf_receipt(f, job, &j, price, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_RECEIPTED);
	/* A matching attestation is recorded as nothing but an event. */
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_MATCH, 0xa1);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_RECEIPTED);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_NONE);
	f->be->advance(f, CF_WINDOW_S + 1);
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_PAID);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - price, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE + price, CF_PROVIDER_STAKE, 0);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - price, 0, 0);
	cr_assert_eq(f->be->treasury(f), 0);
}

/* A signature s -> n - s, v flipped: recovers the same signer, refused. */
static void cf_high_s(uint8_t sig[RCPT_SIG_BYTES])
{
	static const uint8_t n[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
		0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
	};
	int borrow = 0;

	for (int i = 31; i >= 0; i--) {
		int d = n[i] - sig[32 + i] - borrow;
		borrow = d < 0;
		sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
	sig[64] = (uint8_t)(27 + 28 - sig[64]);
}

/* openJob's refusals of signatures, addresses, deadlines and amounts,
 * each changing nothing, in the contract's order. */
CF_SCENARIO(open_refusals)
{
	uint64_t now = f->be->now(f);
	struct rcpt_job j = cf_spec(f, 45, now + CF_DAY_S, 1), k;
	uint8_t sig[RCPT_SIG_BYTES], job[32];

	cf_sign_job(f, sig, CF_CUSTOMER, &j);
	sig[64] = 29;
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_open_job(f->c, job, &j, sig, now));
	cf_sign_job(f, sig, CF_CUSTOMER, &j);
	memset(sig, 0, 32);   /* r = 0: nothing recovers */
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_open_job(f->c, job, &j, sig, now));
	cf_sign_job(f, sig, CF_CUSTOMER, &j);
	cf_high_s(sig);
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_open_job(f->c, job, &j, sig, now));
	cf_sign_job(f, sig, CF_PROVIDER, &j);
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_open_job(f->c, job, &j, sig, now));
	/* zero provider, same party, deadlines, amounts */
	k = j;
	memset(k.provider, 0, RCPT_ADDR_BYTES);
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_ARG, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	memcpy(k.provider, k.customer, RCPT_ADDR_BYTES);
	k.max_price.be[0] = 1;   /* also too large: same party comes first */
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_SAME_PARTY, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	k.deadline = now;
	rcpt_u256_from_u64(&k.max_price, 0);   /* also zero: the deadline comes first */
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_DEADLINE, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	k.deadline = now + 30u * CF_DAY_S + CF_SLACK_S * 12;
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_DEADLINE, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	rcpt_u256_from_u64(&k.max_price, 0);
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_ARG, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	memset(k.max_price.be, 0, 32);
	k.max_price.be[15] = 1;   /* 2^128 */
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_OVERFLOW, chain_open_job(f->c, job, &k, sig, now));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_UNKNOWN);
}

/* openJob's refusals of money and stake, the exposure rule at its edge,
 * and a job id seen twice. */
CF_SCENARIO(open_refusals_funds_and_stake)
{
	uint64_t now = f->be->now(f);
	struct rcpt_job j = cf_spec(f, 45, now + CF_DAY_S, 1), k;
	uint8_t sig[RCPT_SIG_BYTES], job[32];
	const uint64_t cap = cf_cap_of(CF_PROVIDER_STAKE);

	cr_assert_eq(cap, 50);
	k = j;
	rcpt_u256_from_u64(&k.max_price, CF_CUSTOMER_FUND + 1);   /* also above the cap */
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_INSUFFICIENT, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	memcpy(k.provider, cf_addr(f, CF_POOR), RCPT_ADDR_BYTES);
	rcpt_u256_from_u64(&k.max_price, 1);
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_STAKE_LOW, chain_open_job(f->c, job, &k, sig, now));
	k = j;
	rcpt_u256_from_u64(&k.max_price, cap);   /* cap itself: not below it */
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_STAKE_FOR_PRICE, chain_open_job(f->c, job, &k, sig, now));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_UNKNOWN);

	/* 45 fits under the cap of 50; then 45 + 5 does not, 45 + 4 does. */
	cf_open(f, job, &j);
	cf_sign_job(f, sig, CF_CUSTOMER, &j);
	CF_OP(f, CHAIN_ERR_EXISTS, chain_open_job(f->c, job, &j, sig, now));
	k = cf_spec(f, cap - 45, now + CF_DAY_S, 2);
	cf_sign_job(f, sig, CF_CUSTOMER, &k);
	CF_OP(f, CHAIN_ERR_STAKE_FOR_PRICE, chain_open_job(f->c, job, &k, sig, f->be->now(f)));
	k = cf_spec(f, cap - 45 - 1, now + CF_DAY_S, 2);
	cf_open(f, job, &k);
	cf_sign_job(f, sig, CF_CUSTOMER, &j);
	CF_OP(f, CHAIN_ERR_EXISTS, chain_open_job(f->c, job, &j, sig, f->be->now(f)));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 45 - (cap - 46), 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
}

/* submitReceipt's refusals, in the contract's order. */
CF_SCENARIO(receipt_refusals)
{
	uint64_t now = f->be->now(f);
	/* 25 + 20 stay under the provider's cap of 50 */
	struct rcpt_job j = cf_spec(f, 25, now + 2 * CF_WINDOW_S, 1);
	struct rcpt_job late = cf_spec(f, 20, now + CF_SLACK_S * 4, 2);
	struct rcpt_receipt r, k;
	uint8_t job[32], late_job[32];

	cf_open(f, job, &j);
	cf_open(f, late_job, &late);
	r = cf_receipt(f, job, &j, 20, 0xa1);
	k = r;
	k.job[0] ^= 1;
	CF_SUBMIT(f, CHAIN_ERR_STATE, &k);              /* no such job */
	k = r;
	k.kernel_hash[0] ^= 1;
	CF_SUBMIT(f, CHAIN_ERR_MISMATCH, &k);
	k = r;
	k.input_size++;
	CF_SUBMIT(f, CHAIN_ERR_MISMATCH, &k);
	k = r;
	memcpy(k.provider, cf_addr(f, CF_VALIDATOR), RCPT_ADDR_BYTES);
	cf_submit_as(f, CHAIN_ERR_MISMATCH, &k, CF_VALIDATOR, __LINE__);
	k = r;
	rcpt_u256_from_u64(&k.price, 26);
	CF_SUBMIT(f, CHAIN_ERR_PRICE, &k);
	k = r;
	k.finished_at_ms = k.started_at_ms - 1;
	CF_SUBMIT(f, CHAIN_ERR_TIMES, &k);
	k = r;
	k.started_at_ms -= (CF_SLACK_S * 4) * 1000;   /* long before the job opened */
	CF_SUBMIT(f, CHAIN_ERR_TIMES, &k);
	k = r;
	k.finished_at_ms += (CF_SLACK_S * 4) * 1000;  /* far in the future */
	CF_SUBMIT(f, CHAIN_ERR_TIMES, &k);
	cf_submit_as(f, CHAIN_ERR_SIGNATURE, &r, CF_CUSTOMER, __LINE__);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_OPEN);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_RECEIPTED);
	k = r;
	rcpt_u256_from_u64(&k.price, 21);
	CF_SUBMIT(f, CHAIN_ERR_STATE, &k);              /* one receipt a job */
	f->be->advance(f, CF_SLACK_S * 5);
	k = cf_receipt(f, late_job, &late, 20, 0xa1);
	CF_SUBMIT(f, CHAIN_ERR_DEADLINE, &k);
	CF_EXPECT_JOB(f, late_job, CHAIN_JOB_OPEN);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 45, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
}

/* settle before the window ends, on an open job before its deadline, on
 * an unknown job: refused; after the window: paid. */
CF_SCENARIO(settle_too_early)
{
	uint64_t now = f->be->now(f);
	struct rcpt_job j = cf_spec(f, 40, now + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, (uint8_t[32]){ 0x42 }, now));
	cf_open(f, job, &j);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	r = cf_receipt(f, job, &j, 40, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	f->be->advance(f, CF_WINDOW_S - CF_SLACK_S);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 40, 0, 0);
	f->be->advance(f, CF_SLACK_S + 1);
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_PAID);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 40, 0, 0);   /* price = maxPrice */
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE + 40, CF_PROVIDER_STAKE, 0);
}

/* No receipt by the deadline: settle returns maxPrice. */
CF_SCENARIO(refund_after_deadline)
{
	uint64_t now = f->be->now(f);
	struct rcpt_job j = cf_spec(f, 40, now + CF_SLACK_S * 4, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	cf_open(f, job, &j);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	f->be->advance(f, CF_SLACK_S * 5);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_ERR_DEADLINE, &r);
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_REFUNDED);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	CF_SUBMIT(f, CHAIN_ERR_STATE, &r);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
}

/* attest's refusals, in the contract's order. */
CF_SCENARIO(attest_refusals)
{
	uint64_t now = f->be->now(f);
	struct rcpt_job j = cf_spec(f, 40, now + CF_DAY_S, 1), o = cf_spec(f, 5, now + CF_DAY_S, 2);
	struct rcpt_receipt r, k;
	uint8_t job[32], open_job[32];

	cf_open(f, job, &j);
	cf_open(f, open_job, &o);
	k = cf_receipt(f, open_job, &o, 5, 0xa1);
	CF_ATTEST(f, CHAIN_ERR_STATE, &k, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	k = r;
	k.output_size++;   /* not the receipt the job holds */
	CF_ATTEST(f, CHAIN_ERR_MISMATCH, &k, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_SAME_PARTY, &r, CF_PROVIDER, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_STAKE_LOW, &r, CF_POOR, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_STAKE_LOW, &r, CF_CUSTOMER, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_VERDICT, &r, CF_VALIDATOR, RCPT_VERDICT_MATCH, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_VERDICT, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xa1);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_RECEIPTED);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_DISPUTED);
	CF_ATTEST(f, CHAIN_ERR_EXISTS, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb3);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_MATCH, 0xa1);   /* disputed: allowed */
	f->be->advance(f, CF_WINDOW_S + 1);
	CF_ATTEST(f, CHAIN_ERR_WINDOW, &r, CF_VALIDATOR2, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR2, CHAIN_DISPUTE_NONE);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_OPEN);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 45, 0, 0);
}

/* Wrong signatures and forms of an attestation. */
CF_SCENARIO(attest_signature_and_form)
{
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_attestation a;
	struct rcpt_receipt r;
	struct rcpt_domain d;
	uint8_t job[32], sig[RCPT_SIG_BYTES], dig[32];

	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	memset(&a, 0, sizeof(a));
	cf_receipt_id(f, a.receipt, &r);
	memset(a.output_root, 0xb2, 32);
	a.verdict = RCPT_VERDICT_DIFFERS;
	memcpy(a.validator, cf_addr(f, CF_VALIDATOR), RCPT_ADDR_BYTES);
	chain_domain(f->c, &d);
	cr_assert_eq(rcpt_attestation_digest(dig, NULL, &d, &a), RCPT_OK);
	cf_sign(f, sig, CF_VALIDATOR2, dig);
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_attest(f->c, &a, sig, &r, f->be->now(f)));
	cf_sign(f, sig, CF_VALIDATOR, dig);
	a.receipt[0] ^= 1;   /* names another receipt */
	CF_OP(f, CHAIN_ERR_MISMATCH, chain_attest(f->c, &a, sig, &r, f->be->now(f)));
	a.receipt[0] ^= 1;
	a.verdict = 3;       /* receipts.h refuses to hash it: never signed */
	CF_OP(f, CHAIN_ERR_ARG, chain_attest(f->c, &a, sig, &r, f->be->now(f)));
	a.verdict = RCPT_VERDICT_DIFFERS;
	cf_high_s(sig);
	CF_OP(f, CHAIN_ERR_SIGNATURE, chain_attest(f->c, &a, sig, &r, f->be->now(f)));
	cf_high_s(sig);
	CF_OP(f, CHAIN_OK, chain_attest(f->c, &a, sig, &r, f->be->now(f)));
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_OPEN);
}

/* A job's disputes are capped: the cap-th + 1 validator is refused. */
CF_SCENARIO(disputes_capped)
{
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];
	int i;

	for (i = CF_EXTRA; i < CF_PARTIES; i++) {
		f->be->fund(f, i, CF_MIN_STAKE);
		f->be->stake(f, i, CF_MIN_STAKE);
	}
	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	for (i = 0; i < (int)CHAIN_DISPUTES_PER_JOB_MAX; i++)
		CF_ATTEST(f, CHAIN_OK, &r, CF_EXTRA + i, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_ERR_DISPUTES_MAX, &r, CF_EXTRA + i, RCPT_VERDICT_DIFFERS, 0xb2);
	/* the cap counts disputes ever filed: closing one frees no place */
	CF_OP(f, CHAIN_OK, chain_decide(f->c, job, cf_addr(f, CF_EXTRA), 0, f->be->now(f)));
	CF_ATTEST(f, CHAIN_ERR_DISPUTES_MAX, &r, CF_EXTRA + i, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_DISPUTED);
}

/* Fraud upheld: the provider slashed (bonded first, then unbonding),
 * the bounty to the validator, the rest to the treasury, the customer
 * refunded, the other dispute moot. */
CF_SCENARIO(fraud_upheld)
{
	const uint64_t max_price = 40, unstaked = 600;
	const uint64_t bond = CF_PROVIDER_STAKE;   /* bonded + unbonding */
	const uint64_t slash = cf_slash_of(bond), bounty = cf_bounty_of(slash);
	struct rcpt_job j = cf_spec(f, max_price, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint64_t before, after, deadline = 0;
	enum chain_dispute_state ds;
	uint8_t job[32];

	cr_assert_eq(slash, 501);
	cr_assert_eq(bounty, 100);
	cr_assert(slash > bond - unstaked, "the slash reaches the unbonding funds");
	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	f->be->unstake(f, CF_PROVIDER, unstaked);
	before = f->be->now(f);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	after = f->be->now(f);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR2, RCPT_VERDICT_DIFFERS, 0xb3);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_DISPUTED);
	CF_OP(f, CHAIN_OK, chain_dispute_state(f->c, &ds, &deadline, job, cf_addr(f, CF_VALIDATOR)));
	cr_assert_eq(ds, CHAIN_DISPUTE_OPEN);
	cr_assert(deadline >= before + CF_REFEREE_S && deadline <= after + CF_REFEREE_S,
		  "referee deadline %llu not attest time + %u", (unsigned long long)deadline,
		  CF_REFEREE_S);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	CF_OP(f, CHAIN_OK, chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR), 1, f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_REFUNDED);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_PROVIDER_WRONG);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR2, CHAIN_DISPUTE_MOOT);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, 0,
		  unstaked - (slash - (bond - unstaked)));
	CF_EXPECT(f, CF_VALIDATOR, CF_VALIDATOR_FUND - CF_VALIDATOR_STAKE + bounty,
		  CF_VALIDATOR_STAKE, 0);
	CF_EXPECT(f, CF_VALIDATOR2, CF_VALIDATOR_FUND - CF_VALIDATOR_STAKE, CF_VALIDATOR_STAKE, 0);
	cr_assert_eq(f->be->treasury(f), slash - bounty);
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_OPEN,
	      chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR2), 1, f->be->now(f)));
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_OPEN,
	      chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR), 1, f->be->now(f)));
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
}

/* A false claim: the validator slashed (no bounty), the job receipted
 * again and paid after its window. */
CF_SCENARIO(false_claim)
{
	const uint64_t slash = cf_slash_of(CF_VALIDATOR_STAKE);
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	cr_assert_eq(slash, 125);
	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_OPEN,
	      chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR2), 0, f->be->now(f)));
	CF_OP(f, CHAIN_OK, chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR), 0, f->be->now(f)));
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_VALIDATOR_WRONG);
	CF_EXPECT_JOB(f, job, CHAIN_JOB_RECEIPTED);
	CF_EXPECT(f, CF_VALIDATOR, CF_VALIDATOR_FUND - CF_VALIDATOR_STAKE,
		  CF_VALIDATOR_STAKE - slash, 0);
	cr_assert_eq(f->be->treasury(f), slash);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, job, f->be->now(f)));
	f->be->advance(f, CF_WINDOW_S + 1);
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_PAID);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 30, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE + 30, CF_PROVIDER_STAKE, 0);
}

/* The referee stays silent: after the deadline the dispute expires,
 * nobody is slashed, the customer is refunded. */
CF_SCENARIO(undecided_dispute_expires)
{
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR2, RCPT_VERDICT_DIFFERS, 0xb3);
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_EXPIRED,
	      chain_expire_dispute(f->c, job, cf_addr(f, CF_VALIDATOR), f->be->now(f)));
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_OPEN,
	      chain_expire_dispute(f->c, job, cf_addr(f, CF_CUSTOMER), f->be->now(f)));
	f->be->advance(f, CF_REFEREE_S + CF_SLACK_S);
	CF_OP(f, CHAIN_ERR_DISPUTE_EXPIRED,
	      chain_decide(f->c, job, cf_addr(f, CF_VALIDATOR), 1, f->be->now(f)));
	CF_OP(f, CHAIN_OK, chain_expire_dispute(f->c, job, cf_addr(f, CF_VALIDATOR), f->be->now(f)));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_REFUNDED);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_EXPIRED);
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR2, CHAIN_DISPUTE_MOOT);
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_OPEN,
	      chain_expire_dispute(f->c, job, cf_addr(f, CF_VALIDATOR2), f->be->now(f)));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE, CF_PROVIDER_STAKE, 0);
	CF_EXPECT(f, CF_VALIDATOR, CF_VALIDATOR_FUND - CF_VALIDATOR_STAKE, CF_VALIDATOR_STAKE, 0);
	cr_assert_eq(f->be->treasury(f), 0);
}

/* Unbonded stake stays while it backs a job not yet settled. */
CF_SCENARIO(unbonding_held_by_open_jobs)
{
	const uint64_t unstaked = 100;
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + 20u * CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	/* Nothing due: success, nothing moves. */
	CF_OP(f, CHAIN_OK, chain_release_unbonded(f->c, cf_addr(f, CF_PROVIDER), f->be->now(f), NULL));
	cf_open(f, job, &j);
	f->be->unstake(f, CF_PROVIDER, unstaked);
	f->be->advance(f, CF_UNBONDING_S + 1);
	CF_OP(f, CHAIN_ERR_STAKE_BACKS_JOBS,
	      chain_release_unbonded(f->c, cf_addr(f, CF_PROVIDER), f->be->now(f), NULL));
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE,
		  CF_PROVIDER_STAKE - unstaked, unstaked);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_OP(f, CHAIN_ERR_STAKE_BACKS_JOBS,
	      chain_release_unbonded(f->c, cf_addr(f, CF_PROVIDER), f->be->now(f), NULL));
	f->be->advance(f, CF_WINDOW_S + 1);
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->be->now(f)));
	CF_OP(f, CHAIN_OK, chain_release_unbonded(f->c, cf_addr(f, CF_PROVIDER), f->be->now(f), NULL));
	CF_EXPECT(f, CF_PROVIDER, CF_PROVIDER_FUND - CF_PROVIDER_STAKE + 30 + unstaked,
		  CF_PROVIDER_STAKE - unstaked, 0);
}

/* ... and while it backs a dispute its owner filed. */
CF_SCENARIO(unbonding_held_by_open_disputes)
{
	const uint64_t unstaked = 50;
	struct rcpt_job j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	struct rcpt_receipt r;
	uint8_t job[32];

	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	f->be->unstake(f, CF_VALIDATOR, unstaked);
	f->be->advance(f, CF_UNBONDING_S + 1);
	CF_OP(f, CHAIN_ERR_STAKE_BACKS_DISPUTES,
	      chain_release_unbonded(f->c, cf_addr(f, CF_VALIDATOR), f->be->now(f), NULL));
	CF_OP(f, CHAIN_OK, chain_expire_dispute(f->c, job, cf_addr(f, CF_VALIDATOR), f->be->now(f)));
	CF_OP(f, CHAIN_OK, chain_release_unbonded(f->c, cf_addr(f, CF_VALIDATOR), f->be->now(f), NULL));
	CF_EXPECT(f, CF_VALIDATOR, CF_VALIDATOR_FUND - CF_VALIDATOR_STAKE + unstaked,
		  CF_VALIDATOR_STAKE - unstaked, 0);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Each backend's own                                                   */

/* Every custom error in AssayEscrow's ABI has the chain_err chain.h
 * gives it (the table here is written from chain.h, not from the code),
 * and a new one fails this test until it has one. */
Test(chain_conf_evm, every_custom_error_is_mapped)
{
	static const struct { const char *name; enum chain_err err; } want[] = {
		{ "ZeroAddress", CHAIN_ERR_ARG }, { "BadParameter", CHAIN_ERR_BACKEND },
		{ "ZeroAmount", CHAIN_ERR_ARG }, { "AmountTooLarge", CHAIN_ERR_OVERFLOW },
		{ "Insufficient", CHAIN_ERR_INSUFFICIENT }, { "TransferShort", CHAIN_ERR_BACKEND },
		{ "BadSignature", CHAIN_ERR_SIGNATURE }, { "WrongSigner", CHAIN_ERR_SIGNATURE },
		{ "SameParty", CHAIN_ERR_SAME_PARTY }, { "JobExists", CHAIN_ERR_EXISTS },
		{ "BadDeadline", CHAIN_ERR_DEADLINE }, { "StakeTooLow", CHAIN_ERR_STAKE_LOW },
		{ "StakeTooLowForPrice", CHAIN_ERR_STAKE_FOR_PRICE },
		{ "WrongState", CHAIN_ERR_STATE }, { "DeadlinePassed", CHAIN_ERR_DEADLINE },
		{ "JobLink", CHAIN_ERR_MISMATCH }, { "CommitmentMismatch", CHAIN_ERR_MISMATCH },
		{ "ProviderMismatch", CHAIN_ERR_MISMATCH }, { "PriceAboveMax", CHAIN_ERR_PRICE },
		{ "BadTimes", CHAIN_ERR_TIMES }, { "NotSettleable", CHAIN_ERR_STATE },
		{ "WindowClosed", CHAIN_ERR_WINDOW }, { "ReceiptMismatch", CHAIN_ERR_MISMATCH },
		{ "BadVerdict", CHAIN_ERR_VERDICT }, { "VerdictOutput", CHAIN_ERR_VERDICT },
		{ "DisputeExists", CHAIN_ERR_EXISTS }, { "TooManyDisputes", CHAIN_ERR_DISPUTES_MAX },
		{ "NotReferee", CHAIN_ERR_NOT_REFEREE }, { "DisputeNotOpen", CHAIN_ERR_DISPUTE_NOT_OPEN },
		{ "DisputeExpiredAlready", CHAIN_ERR_DISPUTE_EXPIRED },
		{ "DisputeNotExpired", CHAIN_ERR_DISPUTE_NOT_EXPIRED },
		{ "NotReleasable", CHAIN_OK },
		{ "StakeBacksOpenJobs", CHAIN_ERR_STAKE_BACKS_JOBS },
		{ "StakeBacksOpenDisputes", CHAIN_ERR_STAKE_BACKS_DISPUTES },
		/* OpenZeppelin's, inherited: no rule of ours */
		{ "InvalidShortString", CHAIN_ERR_BACKEND },
		{ "StringTooLong", CHAIN_ERR_BACKEND },
		{ "ReentrancyGuardReentrantCall", CHAIN_ERR_BACKEND },
		{ "SafeERC20FailedOperation", CHAIN_ERR_BACKEND },
	};
	char path[512];
	json_t *art, *abi, *e;
	size_t i, seen = 0;
	uint8_t data[8];

	tu_src(path, sizeof(path), "chain-adapter/evm/artifacts/AssayEscrow.json");
	art = json_load_file(path, 0, NULL);
	cr_assert_not_null(art, "%s", path);
	abi = json_object_get(art, "abi");
	json_array_foreach(abi, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *name = json_string_value(json_object_get(e, "name"));
		json_t *in = json_object_get(e, "inputs"), *arg;
		char sig[160];
		size_t k, a, len;
		if (!type || strcmp(type, "error") != 0)
			continue;
		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			if (strcmp(want[k].name, name) == 0)
				break;
		cr_assert(k < sizeof(want) / sizeof(want[0]), "custom error %s is not mapped", name);
		len = (size_t)snprintf(sig, sizeof(sig), "%s(", name);
		json_array_foreach(in, a, arg)
			len += (size_t)snprintf(sig + len, sizeof(sig) - len, "%s%s", a ? "," : "",
					       json_string_value(json_object_get(arg, "type")));
		cr_assert(len + 2 < sizeof(sig));
		snprintf(sig + len, sizeof(sig) - len, ")");
		evm_abi_selector(data, sig);
		cr_assert_eq(chain_evm_revert_err(data, 4), want[k].err, "%s", name);
		seen++;
	}
	cr_assert_eq(seen, sizeof(want) / sizeof(want[0]), "every mapped error is in the ABI");
	/* A panic, an Error(string), no data, an unknown selector: backend. */
	cr_assert_eq(chain_evm_revert_err(NULL, 0), CHAIN_ERR_BACKEND);
	memset(data, 0xab, sizeof(data));
	cr_assert_eq(chain_evm_revert_err(data, 4), CHAIN_ERR_BACKEND);
	evm_abi_selector(data, "WrongState()");
	cr_assert_eq(chain_evm_revert_err(data, 8), CHAIN_ERR_BACKEND, "arguments it never has");
	json_decref(art);
}

/* The referee's verdict needs the referee's key; the ledger calls the
 * contract has no counterpart for are refused. */
Test(chain_conf_evm, only_the_referee_decides_and_ledger_calls_are_unsupported,
     .fini = cf_fini, .timeout = 240)
{
	struct cf *f = &F;
	struct rcpt_job j;
	struct rcpt_receipt r;
	struct rcpt_u256 one;
	struct chain *other = NULL;
	struct chain_event ev;
	struct rcpt_diag d;
	uint8_t job[32], op[32] = { 1 };
	size_t n = 9;
	char why[64];

	cf_run(&CF_EVM, NULL);
	j = cf_spec(f, 40, f->be->now(f) + CF_DAY_S, 1);
	cf_open(f, job, &j);
	r = cf_receipt(f, job, &j, 30, 0xa1);
	CF_SUBMIT(f, CHAIN_OK, &r);
	CF_ATTEST(f, CHAIN_OK, &r, CF_VALIDATOR, RCPT_VERDICT_DIFFERS, 0xb2);
	cr_assert_eq(chain_evm_open(&other, &d, f->url, f->escrow, &f->key[CF_CUSTOMER], 0),
		     CHAIN_OK, "%s", d.msg);
	/* NotReferee comes before everything: even for a dispute not open */
	CF_OP(f, CHAIN_ERR_NOT_REFEREE,
	      chain_decide(other, job, cf_addr(f, CF_VALIDATOR2), 1, 0));
	CF_OP(f, CHAIN_ERR_NOT_REFEREE, chain_decide(other, job, cf_addr(f, CF_VALIDATOR), 1, 0));
	CF_EXPECT_DISPUTE(f, job, CF_VALIDATOR, CHAIN_DISPUTE_OPEN);
	/* anyone relays the rest */
	CF_OP(f, CHAIN_ERR_DISPUTE_NOT_EXPIRED,
	      chain_expire_dispute(other, job, cf_addr(f, CF_VALIDATOR), 0));
	chain_free(other);
	rcpt_u256_from_u64(&one, 1);
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_faucet(f->c, cf_addr(f, CF_CUSTOMER), &one, 0, NULL));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_withdraw(f->c, cf_addr(f, CF_CUSTOMER), &one, 0, NULL));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_stake(f->c, cf_addr(f, CF_CUSTOMER), &one, 0, NULL));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_unstake(f->c, cf_addr(f, CF_CUSTOMER), &one, 0, NULL));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED,
	      chain_release_unbonded(f->c, cf_addr(f, CF_PROVIDER), 0, op));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_lock(f->c, op, cf_addr(f, CF_CUSTOMER),
						   cf_addr(f, CF_PROVIDER), &one, 0));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_release(f->c, job, &one, 0));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_refund(f->c, job, 0));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_slash(f->c, cf_addr(f, CF_PROVIDER), &one,
						    cf_addr(f, CF_VALIDATOR), &one, job, 0));
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_events(f->c, &ev, &n, 1, 0));
	cr_assert_eq(n, 0);
	CF_OP(f, CHAIN_ERR_UNSUPPORTED, chain_check_invariants(f->c, why, sizeof(why)));
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND - 40, 0, 0);
}

/* A chain whose escrow address holds no contract is refused at open. */
Test(chain_conf_evm, open_refuses_an_address_without_the_contract, .fini = cf_fini,
     .timeout = 240)
{
	struct chain *c = NULL;
	struct rcpt_diag d;

	cf_run(&CF_EVM, NULL);
	cr_assert_eq(chain_evm_open(&c, &d, F.url, F.token, &F.key[0], 0), CHAIN_ERR_BACKEND,
		     "DevToken answers no token()");
	cr_assert(strstr(d.msg, "token()"), "%s", d.msg);
	cr_assert_eq(chain_evm_open(&c, &d, F.url, F.treasury, &F.key[0], 0), CHAIN_ERR_BACKEND);
	cr_assert(strstr(d.msg, "no contract"), "%s", d.msg);
	cr_assert_eq(chain_evm_open(&c, &d, "http://127.0.0.1:1", F.escrow, &F.key[0], 0),
		     CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_evm_open(&c, &d, "ftp://x", F.escrow, &F.key[0], 0), CHAIN_ERR_ARG);
	cr_assert_null(c);
}

/* Without the statement parameters the PostgreSQL backend refuses the
 * statement calls (and nothing else changes); bad ones refuse to open. */
Test(chain_conf_pg, rules_off_and_bad_parameters, .fini = cf_fini, .timeout = 120)
{
	struct chain_params p = cf_pg_params();
	struct chain *c = NULL;
	struct chain_rules rules;
	struct rcpt_diag d;
	struct rcpt_job j;
	enum chain_job_state s;
	uint8_t sig[RCPT_SIG_BYTES] = { 0 }, job[32] = { 7 };

	cf_run(&CF_PG, NULL);
	p.challenge_window_s = p.referee_deadline_s = 0;
	p.sample_bps = p.slash_bps = p.bounty_bps = 0;
	cr_assert_eq(chain_pg_open(&c, &d, F.db.conninfo, &p, CF_PG_ESCROW), CHAIN_OK, "%s", d.msg);
	j = cf_spec(&F, 40, F.now_s + CF_DAY_S, 1);
	cr_assert_eq(chain_open_job(c, job, &j, sig, F.now_s), CHAIN_ERR_UNSUPPORTED);
	cr_assert_eq(chain_settle(c, job, F.now_s), CHAIN_ERR_UNSUPPORTED);
	cr_assert_eq(chain_decide(c, job, job, 1, F.now_s), CHAIN_ERR_UNSUPPORTED);
	cr_assert_eq(chain_expire_dispute(c, job, job, F.now_s), CHAIN_ERR_UNSUPPORTED);
	cr_assert_eq(chain_rules(c, &rules), CHAIN_ERR_UNSUPPORTED);
	cr_assert_eq(chain_job_state(c, &s, job), CHAIN_OK, "reads work without the rules");
	cr_assert_eq(s, CHAIN_JOB_UNKNOWN);
	chain_free(c);
	c = NULL;
	p = cf_pg_params();
	p.unbonding_s = CF_WINDOW_S + CF_REFEREE_S;   /* must exceed their sum */
	cr_assert_eq(chain_pg_open(&c, &d, F.db.conninfo, &p, CF_PG_ESCROW), CHAIN_ERR_ARG);
	cr_assert(strstr(d.msg, "unbonding"), "%s", d.msg);
	p = cf_pg_params();
	p.slash_bps = CHAIN_BPS + 1;
	cr_assert_eq(chain_pg_open(&c, &d, F.db.conninfo, &p, CF_PG_ESCROW), CHAIN_ERR_ARG);
	p = cf_pg_params();
	p.bounty_bps = 0;   /* allowed, as the constructor allows it */
	cr_assert_eq(chain_pg_open(&c, &d, F.db.conninfo, &p, CF_PG_ESCROW), CHAIN_OK, "%s", d.msg);
	chain_free(c);
}

/* The ledger calls do not touch a statement job: lock sees its id as
 * taken, release, refund and slash refuse it; a ledger job is reported
 * by chain_job_state and is not the rules' to settle. */
Test(chain_conf_pg, ledger_calls_and_statement_jobs, .fini = cf_fini, .timeout = 120)
{
	struct cf *f = &F;
	struct rcpt_job j;
	struct rcpt_u256 one, forty;
	uint8_t job[32], ledger_job[32];

	cf_run(&CF_PG, NULL);
	rcpt_u256_from_u64(&one, 1);
	rcpt_u256_from_u64(&forty, 40);
	j = cf_spec(f, 40, f->now_s + CF_DAY_S, 1);
	cf_open(f, job, &j);
	CF_OP(f, CHAIN_ERR_EXISTS, chain_lock(f->c, job, cf_addr(f, CF_CUSTOMER),
					      cf_addr(f, CF_PROVIDER), &one, f->now_s));
	CF_OP(f, CHAIN_ERR_STATE, chain_release(f->c, job, &one, f->now_s));
	CF_OP(f, CHAIN_ERR_STATE, chain_refund(f->c, job, f->now_s));
	CF_OP(f, CHAIN_ERR_STATE, chain_slash(f->c, cf_addr(f, CF_PROVIDER), &one,
					      cf_addr(f, CF_VALIDATOR), &one, job, f->now_s));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_OPEN);
	memset(ledger_job, 0x5a, 32);
	CF_OP(f, CHAIN_OK, chain_lock(f->c, ledger_job, cf_addr(f, CF_CUSTOMER),
				      cf_addr(f, CF_PROVIDER), &forty, f->now_s));
	CF_EXPECT_JOB(f, ledger_job, CHAIN_JOB_OPEN);
	f->now_s += 40u * CF_DAY_S;
	CF_OP(f, CHAIN_ERR_STATE, chain_settle(f->c, ledger_job, f->now_s));
	CF_OP(f, CHAIN_OK, chain_refund(f->c, ledger_job, f->now_s));
	CF_EXPECT_JOB(f, ledger_job, CHAIN_JOB_REFUNDED);
	/* A ledger job does not hold the stake under the rules' release. */
	CF_OP(f, CHAIN_OK, chain_settle(f->c, job, f->now_s));
	CF_EXPECT_JOB(f, job, CHAIN_JOB_REFUNDED);
	CF_EXPECT(f, CF_CUSTOMER, CF_CUSTOMER_FUND, 0, 0);
}
