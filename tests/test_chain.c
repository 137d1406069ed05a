/*
 * test_chain.c: the settlement interface (chain.h) on its PostgreSQL
 * backend, against a real server (scripts/with-postgres.sh); each test
 * has its own database (tests/pgutil.c).
 *
 * After every operation of every test the ledger's invariants are
 * checked (chain_check_invariants, through OP below).  Expected balances
 * and events come from a small model written here (struct m_*), not from
 * the code under test; the exhaustive test runs every sequence of a set
 * of operations, refused ones included, against it.
 *
 * Races run on separate connections (one struct chain per thread,
 * started together by a barrier), many rounds each; a soak replays the
 * event log of random concurrent operations against every balance.
 *
 * The restart test stops the shared server: it takes the pgutil lock
 * exclusively, so it runs while no other test holds a database.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "chain.h"
#include "pg_internal.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

#define T_CHAIN_ID 31337u
#define T_MIN_STAKE 1u
#define T_UNBONDING_S 1u

static const uint8_t T_ESCROW[RCPT_ADDR_BYTES] = { 0xe5, 0xc0, 0x00, 0x01 };
static const uint8_t T_ZERO_JOB[RCPT_HASH_BYTES];

static struct chain_params t_params(int devnet)
{
	struct chain_params p;

	memset(&p, 0, sizeof(p));
	p.chain_id = T_CHAIN_ID;
	p.devnet = devnet;
	rcpt_u256_from_u64(&p.min_stake, T_MIN_STAKE);
	p.unbonding_s = T_UNBONDING_S;
	return p;
}

static struct chain *t_open(const struct pgt_db *db, int devnet)
{
	struct chain_params p = t_params(devnet);
	struct rcpt_diag d;
	struct chain *c = NULL;
	enum chain_err rc = chain_pg_open(&c, &d, db->conninfo, &p, T_ESCROW);

	cr_assert_eq(rc, CHAIN_OK, "chain_pg_open: %s: %s", chain_errname(rc), d.msg);
	cr_assert(c != NULL);
	return c;
}

static void t_invariants(struct chain *c, const char *after, int line)
{
	char why[256];
	enum chain_err rc = chain_check_invariants(c, why, sizeof(why));

	cr_assert_eq(rc, CHAIN_OK, "line %d, after %s: invariants: %s (%s)", line, after,
		     why, chain_errname(rc));
}

/* Runs a chain call, checks its result, then the invariants. */
#define OP(c, want, call)                                                      \
	do {                                                                   \
		enum chain_err op_rc_ = (call);                                \
		cr_assert_eq(op_rc_, (want), "line %d: %s: got %s, want %s",   \
			     __LINE__, #call, chain_errname(op_rc_),           \
			     chain_errname(want));                             \
		t_invariants((c), #call, __LINE__);                            \
	} while (0)

static struct rcpt_u256 u(uint64_t v)
{
	struct rcpt_u256 x;

	rcpt_u256_from_u64(&x, v);
	return x;
}


/* 2^256 - 1 - k */
static struct rcpt_u256 u_max_minus(uint8_t k)
{
	struct rcpt_u256 x;

	memset(x.be, 0xff, sizeof(x.be));
	x.be[31] = (uint8_t)(0xff - k);
	return x;
}

static uint64_t u_low(const struct rcpt_u256 *x)
{
	uint64_t v = 0;

	for (int i = 0; i < 24; i++)
		cr_assert_eq(x->be[i], 0, "amount above 2^64");
	for (int i = 24; i < 32; i++)
		v = v << 8 | x->be[i];
	return v;
}

/* Addresses and job ids: `tag` names the actor, `uni` the universe (a
 * test's own set of parties, so that one database serves many cases). */
static void t_addr(uint8_t out[RCPT_ADDR_BYTES], uint8_t tag, uint32_t uni)
{
	memset(out, 0, RCPT_ADDR_BYTES);
	out[0] = tag;
	out[16] = (uint8_t)(uni >> 24);
	out[17] = (uint8_t)(uni >> 16);
	out[18] = (uint8_t)(uni >> 8);
	out[19] = (uint8_t)uni;
}

static void t_job(uint8_t out[RCPT_HASH_BYTES], uint8_t tag, uint32_t uni)
{
	memset(out, 0, RCPT_HASH_BYTES);
	out[0] = 0x10 | tag;
	out[28] = (uint8_t)(uni >> 24);
	out[29] = (uint8_t)(uni >> 16);
	out[30] = (uint8_t)(uni >> 8);
	out[31] = (uint8_t)uni;
}

static struct chain_balance t_bal(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES])
{
	struct chain_balance b;

	cr_assert_eq(chain_balance(c, &b, who), CHAIN_OK);
	return b;
}

static uint64_t t_avail(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES])
{
	struct chain_balance b = t_bal(c, who);

	return u_low(&b.available);
}

static uint64_t t_unbonding(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES])
{
	struct chain_balance b = t_bal(c, who);

	return u_low(&b.unbonding);
}

static uint64_t t_last_seq(struct chain *c)
{
	struct chain_event ev[64];
	size_t n = 0;
	uint64_t last = 0;

	do {
		cr_assert_eq(chain_events(c, ev, &n, 64, last), CHAIN_OK);
		if (n)
			last = ev[n - 1].seq;
	} while (n == 64);
	return last;
}

/* ------------------------------------------------------------------ */
/* Errors and the embedded migrations                                   */

Test(chain, every_error_has_a_distinct_name_and_a_message)
{
	for (int i = 0; i < CHAIN_ERR_COUNT_; i++) {
		cr_assert(chain_strerror((enum chain_err)i)[0] != '\0');
		cr_assert(chain_errname((enum chain_err)i)[0] != '\0');
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(chain_errname((enum chain_err)i),
					  chain_errname((enum chain_err)j));
	}
	cr_assert_str_eq(chain_errname(CHAIN_ERR_INSUFFICIENT), "insufficient");
	cr_assert_str_eq(chain_strerror(CHAIN_ERR_COUNT_), "unknown error");
}

Test(chain, embedded_migrations_are_the_files_byte_for_byte)
{
	char rel[256], path[1024];

	cr_assert(chain_migrations_count >= 1);
	for (size_t i = 0; i < chain_migrations_count; i++) {
		FILE *f;
		char *buf;
		size_t n, len = strlen(chain_migrations[i].sql);

		if (i > 0)
			cr_assert(strcmp(chain_migrations[i - 1].name,
					 chain_migrations[i].name) < 0, "migrations in order");
		snprintf(rel, sizeof(rel), "chain-adapter/migrations/%s.sql",
			 chain_migrations[i].name);
		f = fopen(tu_src(path, sizeof(path), rel), "rb");
		cr_assert(f, "open %s", path);
		buf = malloc(len + 2);
		cr_assert(buf);
		n = fread(buf, 1, len + 1, f);
		fclose(f);
		cr_assert_eq(n, len, "%s: %zu bytes on disk, %zu embedded", path, n, len);
		cr_assert(memcmp(buf, chain_migrations[i].sql, len) == 0, "%s differs", path);
		free(buf);
	}
}

/* embed-sql.sh keeps any text exact: every byte value but NUL, trigraph
 * look-alikes, backslashes at line ends, no final newline.  The output is
 * compiled with a small program that compares it with the file. */
Test(chain, embed_sql_round_trips_every_byte)
{
	static const char prog[] =
		"#include <stdio.h>\n#include <string.h>\n"
		"struct chain_migration { const char *name; const char *sql; };\n"
		"extern const struct chain_migration t_sql[];\n"
		"extern const size_t t_sql_count;\n"
		"int main(int argc, char **argv) {\n"
		"  static char buf[4096]; FILE *f; size_t n;\n"
		"  if (argc != 2 || t_sql_count != 1 || strcmp(t_sql[0].name, \"t-1.x\")) return 2;\n"
		"  f = fopen(argv[1], \"rb\"); if (!f) return 3;\n"
		"  n = fread(buf, 1, sizeof(buf), f); fclose(f);\n"
		"  return n == strlen(t_sql[0].sql) && !memcmp(buf, t_sql[0].sql, n) ? 0 : 1;\n"
		"}\n";
	char dir[512], sql[600], gen[600], main_c[600], bin[600], script[1024];
	uint8_t text[600];
	size_t n = 0;
	struct tu_run r;

	for (int i = 1; i < 256; i++)
		text[n++] = (uint8_t)i;
	{
		static const char tail[] = "?\?/\n?\?=x\\\n'\"\\";
		memcpy(text + n, tail, sizeof(tail) - 1);
		n += sizeof(tail) - 1;
	}
	tu_tmpdir(dir, sizeof(dir));
	snprintf(sql, sizeof(sql), "%s/t-1.x.sql", dir);
	snprintf(gen, sizeof(gen), "%s/gen.c", dir);
	snprintf(main_c, sizeof(main_c), "%s/main.c", dir);
	snprintf(bin, sizeof(bin), "%s/check", dir);
	tu_write_file(sql, text, n, 0600);
	tu_write_file(main_c, prog, sizeof(prog) - 1, 0600);
	{
		const char *argv[] = { "/bin/sh", "-c", "sh \"$0\" t_sql \"$1\" > \"$2\"",
				       tu_src(script, sizeof(script), "scripts/embed-sql.sh"),
				       sql, gen, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "embed-sql.sh: %s", r.err);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { "/bin/sh", "-c",
				       "cc -std=c11 -Wall -Wextra -Werror -Wtrigraphs -o \"$0\" \"$1\" \"$2\"",
				       bin, gen, main_c, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "cc: %s", r.err);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { bin, sql, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "embedded text differs from the file (%d)", r.status);
		tu_run_free(&r);
	}
	/* a NUL byte cannot be embedded: refused */
	tu_write_file(sql, "a\0b", 3, 0600);
	{
		const char *argv[] = { "/bin/sh", "-c", "sh \"$0\" t_sql \"$1\" > /dev/null",
				       script, sql, NULL };
		tu_run(&r, argv);
		cr_assert_neq(r.status, 0);
		cr_assert(strstr(r.err, "NUL") != NULL, "%s", r.err);
		tu_run_free(&r);
	}
	tu_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* Opening, migrations, the domain                                      */

static int t_count(const struct pgt_db *db, const char *sql)
{
	PGconn *conn = PQconnectdb(db->conninfo);
	PGresult *res;
	int n;

	cr_assert(PQstatus(conn) == CONNECTION_OK);
	res = PQexec(conn, sql);
	cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
	return n;
}

Test(chain, open_migrates_once_and_checks_the_chain_id)
{
	struct pgt_db db;
	struct chain *a, *b, *x = NULL;
	struct chain_params p = t_params(1);
	struct rcpt_domain dom;
	struct rcpt_diag d;

	pgt_db_create(&db);
	a = t_open(&db, 1);
	b = t_open(&db, 0);
	cr_assert_eq(t_count(&db, "SELECT count(*) FROM schema_migrations"),
		     (int)chain_migrations_count);
	chain_domain(a, &dom);
	cr_assert_str_eq(dom.name, "Assay");
	cr_assert_str_eq(dom.version, "1");
	cr_assert_eq(dom.chain_id, T_CHAIN_ID);
	cr_assert_arr_eq(dom.verifying_contract, T_ESCROW, RCPT_ADDR_BYTES);
	t_invariants(a, "open", __LINE__);

	p.chain_id = 1;
	cr_assert_eq(chain_pg_open(&x, &d, db.conninfo, &p, T_ESCROW), CHAIN_ERR_BACKEND);
	cr_assert_null(x);
	cr_assert(strstr(d.msg, "chain id") != NULL, "%s", d.msg);
	cr_assert_eq(chain_pg_open(&x, &d, "host=/nonexistent-dir dbname=x", &p, T_ESCROW),
		     CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_pg_open(&x, &d, db.conninfo, NULL, T_ESCROW), CHAIN_ERR_ARG);

	/* a ledger migrated further by a newer program is refused */
	{
		PGconn *conn = PQconnectdb(db.conninfo);
		cr_assert(PQstatus(conn) == CONNECTION_OK);
		pgt_exec(conn, "INSERT INTO schema_migrations (version) VALUES ('999_future')");
		PQfinish(conn);
	}
	p.chain_id = T_CHAIN_ID;
	cr_assert_eq(chain_pg_open(&x, &d, db.conninfo, &p, T_ESCROW), CHAIN_ERR_BACKEND);
	cr_assert(strstr(d.msg, "999_future") != NULL, "%s", d.msg);
	chain_free(a);
	chain_free(b);
	pgt_db_drop(&db);
}

/* Several processes open a fresh database at once: one migrates, the
 * others wait on the advisory lock and find it done. */
Test(chain, concurrent_opens_migrate_once)
{
	struct pgt_db db;
	enum { N = 4 };
	pid_t pid[N];

	pgt_db_create(&db);
	for (int i = 0; i < N; i++) {
		pid[i] = fork();
		cr_assert(pid[i] >= 0);
		if (pid[i] == 0) {
			struct chain_params p = t_params(1);
			struct chain *c = NULL;
			enum chain_err rc = chain_pg_open(&c, NULL, db.conninfo, &p, T_ESCROW);
			chain_free(c);
			_exit(rc == CHAIN_OK ? 0 : 10 + (int)rc);
		}
	}
	for (int i = 0; i < N; i++) {
		int st = 0;
		cr_assert_eq(waitpid(pid[i], &st, 0), pid[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "opener %d: status %d", i, st);
	}
	cr_assert_eq(t_count(&db, "SELECT count(*) FROM schema_migrations"),
		     (int)chain_migrations_count);
	cr_assert_eq(t_count(&db, "SELECT count(*) FROM ledger_head"), 1);
	pgt_db_drop(&db);
}

/* ------------------------------------------------------------------ */
/* The model                                                            */

enum { M_C0, M_C1, M_P0, M_P1, M_V, M_ACTORS };
enum { M_J0, M_J1, M_JOBS, M_NOJOB = -1 };
enum { M_NONE, M_OPEN, M_RELEASED, M_REFUNDED };
#define M_UNB_MAX 16
#define M_EV_MAX 8

struct m_actor {
	uint64_t avail, stake;
	int n_unb;
	uint64_t unb_amount[M_UNB_MAX];    /* in the order created */
	uint64_t unb_at[M_UNB_MAX];
};

struct m_job {
	uint64_t max_price;
	int state;
	int customer, provider;
	int pad_;              /* no padding: models are compared with memcmp */
};

struct m_event {
	enum chain_event_kind kind;
	int from, to;          /* actor, or -1 for world/treasury/lock */
	int job;               /* M_J0, M_J1 or M_NOJOB */
	uint64_t amount;
};

struct model {
	struct m_actor a[M_ACTORS];
	struct m_job j[M_JOBS];
	int slashed[M_ACTORS][M_JOBS];
	int64_t world;
	uint64_t treasury;
	int n_ev;                          /* events of the last operation */
	struct m_event ev[M_EV_MAX];
};

static void m_event(struct model *m, enum chain_event_kind k, int from, int to,
		    int job, uint64_t amount)
{
	cr_assert(m->n_ev < M_EV_MAX);
	m->ev[m->n_ev++] = (struct m_event){ k, from, to, job, amount };
}

static uint64_t m_unbonding(const struct m_actor *a)
{
	uint64_t s = 0;

	for (int i = 0; i < a->n_unb; i++)
		s += a->unb_amount[i];
	return s;
}

static uint64_t m_next_release(const struct m_actor *a)
{
	uint64_t t = 0;

	for (int i = 0; i < a->n_unb; i++)
		if (t == 0 || a->unb_at[i] < t)
			t = a->unb_at[i];
	return t;
}

static enum chain_err m_faucet(struct model *m, int w, uint64_t amt)
{
	m->a[w].avail += amt;
	m->world -= (int64_t)amt;
	m_event(m, CHAIN_EV_DEPOSIT, -1, w, M_NOJOB, amt);
	return CHAIN_OK;
}

static enum chain_err m_withdraw(struct model *m, int w, uint64_t amt)
{
	if (m->a[w].avail < amt)
		return CHAIN_ERR_INSUFFICIENT;
	m->a[w].avail -= amt;
	m->world += (int64_t)amt;
	m_event(m, CHAIN_EV_WITHDRAW, w, -1, M_NOJOB, amt);
	return CHAIN_OK;
}

static enum chain_err m_stake(struct model *m, int w, uint64_t amt)
{
	if (m->a[w].avail < amt)
		return CHAIN_ERR_INSUFFICIENT;
	m->a[w].avail -= amt;
	m->a[w].stake += amt;
	m_event(m, CHAIN_EV_STAKE, w, w, M_NOJOB, amt);
	return CHAIN_OK;
}

static enum chain_err m_unstake(struct model *m, int w, uint64_t amt, uint64_t now)
{
	struct m_actor *a = &m->a[w];

	if (a->stake < amt)
		return CHAIN_ERR_INSUFFICIENT;
	cr_assert(a->n_unb < M_UNB_MAX);
	a->stake -= amt;
	a->unb_amount[a->n_unb] = amt;
	a->unb_at[a->n_unb++] = now + T_UNBONDING_S;
	m_event(m, CHAIN_EV_UNSTAKE, w, w, M_NOJOB, amt);
	return CHAIN_OK;
}

static enum chain_err m_release_unbonded(struct model *m, int w, uint64_t now)
{
	struct m_actor *a = &m->a[w];
	uint64_t due = 0;
	int k = 0;

	for (int i = 0; i < a->n_unb; i++) {
		if (a->unb_at[i] <= now) {
			due += a->unb_amount[i];
		} else {
			a->unb_amount[k] = a->unb_amount[i];
			a->unb_at[k++] = a->unb_at[i];
		}
	}
	a->n_unb = k;
	if (due) {
		a->avail += due;
		m_event(m, CHAIN_EV_UNBOND, w, w, M_NOJOB, due);
	}
	return CHAIN_OK;
}

static enum chain_err m_lock(struct model *m, int j, int cust, int prov, uint64_t max)
{
	if (m->j[j].state != M_NONE)
		return CHAIN_ERR_EXISTS;
	if (m->a[prov].stake < T_MIN_STAKE)
		return CHAIN_ERR_STAKE_LOW;
	if (m->a[cust].avail < max)
		return CHAIN_ERR_INSUFFICIENT;
	m->j[j] = (struct m_job){ max, M_OPEN, cust, prov, 0 };
	m->a[cust].avail -= max;
	if (max)
		m_event(m, CHAIN_EV_LOCK, cust, -1, j, max);
	return CHAIN_OK;
}

static enum chain_err m_settle(struct model *m, int j, int release, uint64_t price)
{
	struct m_job *x = &m->j[j];

	if (x->state == M_NONE)
		return CHAIN_ERR_NOT_FOUND;
	if (x->state != M_OPEN)
		return CHAIN_ERR_SETTLED;
	if (!release)
		price = 0;
	if (price > x->max_price)
		return CHAIN_ERR_PRICE;
	if (price) {
		m->a[x->provider].avail += price;
		m_event(m, CHAIN_EV_PAY, -1, x->provider, j, price);
	}
	if (x->max_price - price) {
		m->a[x->customer].avail += x->max_price - price;
		m_event(m, CHAIN_EV_RETURN, -1, x->customer, j, x->max_price - price);
	}
	x->state = release ? M_RELEASED : M_REFUNDED;
	return CHAIN_OK;
}

static enum chain_err m_slash(struct model *m, int o, uint64_t amt, int to,
			      uint64_t bounty, int job)
{
	struct m_actor *a = &m->a[o];
	uint64_t fs, fu, bs, bu, left;

	if (job != M_NOJOB && m->slashed[o][job])
		return CHAIN_ERR_SETTLED;
	if (a->stake + m_unbonding(a) < amt)
		return CHAIN_ERR_INSUFFICIENT;
	fs = a->stake < amt ? a->stake : amt;
	fu = amt - fs;
	bs = bounty < fs ? bounty : fs;
	bu = bounty - bs;
	a->stake -= fs;
	/* Unbonding entries, latest release first. */
	left = fu;
	for (int i = a->n_unb - 1; i >= 0 && left; i--) {
		uint64_t t = a->unb_amount[i] < left ? a->unb_amount[i] : left;
		a->unb_amount[i] -= t;
		left -= t;
	}
	for (int i = 0, k = 0, n = a->n_unb; i < n; i++) {
		if (i == 0)
			a->n_unb = 0;
		if (a->unb_amount[i]) {
			a->unb_amount[k] = a->unb_amount[i];
			a->unb_at[k++] = a->unb_at[i];
			a->n_unb = k;
		}
	}
	m->a[to].avail += bs + bu;
	m->treasury += (fs - bs) + (fu - bu);
	if (bs)
		m_event(m, CHAIN_EV_SLASH_BOUNTY, o, to, job, bs);
	if (fs - bs)
		m_event(m, CHAIN_EV_SLASH_KEEP, o, -1, job, fs - bs);
	if (bu)
		m_event(m, CHAIN_EV_SLASH_BOUNTY, o, to, job, bu);
	if (fu - bu)
		m_event(m, CHAIN_EV_SLASH_KEEP, o, -1, job, fu - bu);
	if (job != M_NOJOB)
		m->slashed[o][job] = 1;
	return CHAIN_OK;
}

/* The operations of the exhaustive test: each names its model step and
 * its chain call. */
enum {
	X_FAUCET_C1, X_WITHDRAW_C0_2, X_WITHDRAW_C0_9, X_STAKE_P0_2, X_UNSTAKE_P0_1,
	X_RELEASE_UNBONDED_P0, X_LOCK_J0_C0_2, X_LOCK_J0_C1_1, X_LOCK_J1_C0_0,
	X_RELEASE_J0_1, X_RELEASE_J0_3, X_REFUND_J0, X_SLASH_P0_J0, X_SLASH_P0_NOJOB,
	X_RELEASE_J1_0, X_OPS
};

static const char *const x_names[X_OPS] = {
	"faucet(C1,1)", "withdraw(C0,2)", "withdraw(C0,9)", "stake(P0,2)",
	"unstake(P0,1)", "release_unbonded(P0)", "lock(J0,C0,P0,2)",
	"lock(J0,C1,P0,1)", "lock(J1,C0,P0,0)", "release(J0,1)", "release(J0,3)",
	"refund(J0)", "slash(P0,2,V,1,J0)", "slash(P0,1,V,0,-)", "release(J1,0)",
};

struct uni {
	uint32_t id;
	uint8_t addr[M_ACTORS][RCPT_ADDR_BYTES];
	uint8_t job[M_JOBS][RCPT_HASH_BYTES];
};

static void uni_init(struct uni *x, uint32_t id)
{
	x->id = id;
	for (int i = 0; i < M_ACTORS; i++)
		t_addr(x->addr[i], (uint8_t)(0xa0 + i), id);
	for (int j = 0; j < M_JOBS; j++)
		t_job(x->job[j], (uint8_t)j, id);
}

static enum chain_err x_model(struct model *m, int op, uint64_t now)
{
	switch (op) {
	case X_FAUCET_C1: return m_faucet(m, M_C1, 1);
	case X_WITHDRAW_C0_2: return m_withdraw(m, M_C0, 2);
	case X_WITHDRAW_C0_9: return m_withdraw(m, M_C0, 9);
	case X_STAKE_P0_2: return m_stake(m, M_P0, 2);
	case X_UNSTAKE_P0_1: return m_unstake(m, M_P0, 1, now);
	case X_RELEASE_UNBONDED_P0: return m_release_unbonded(m, M_P0, now);
	case X_LOCK_J0_C0_2: return m_lock(m, M_J0, M_C0, M_P0, 2);
	case X_LOCK_J0_C1_1: return m_lock(m, M_J0, M_C1, M_P0, 1);
	case X_LOCK_J1_C0_0: return m_lock(m, M_J1, M_C0, M_P0, 0);
	case X_RELEASE_J0_1: return m_settle(m, M_J0, 1, 1);
	case X_RELEASE_J0_3: return m_settle(m, M_J0, 1, 3);
	case X_REFUND_J0: return m_settle(m, M_J0, 0, 0);
	case X_SLASH_P0_J0: return m_slash(m, M_P0, 2, M_V, 1, M_J0);
	case X_SLASH_P0_NOJOB: return m_slash(m, M_P0, 1, M_V, 0, M_NOJOB);
	case X_RELEASE_J1_0: return m_settle(m, M_J1, 1, 0);
	default: cr_assert_fail("op %d", op);
	}
	return CHAIN_ERR_ARG;
}

static enum chain_err x_chain(struct chain *c, const struct uni *x, int op, uint64_t now)
{
	struct rcpt_u256 v1 = u(1), v2 = u(2), v9 = u(9), v0 = u(0), v3 = u(3);

	switch (op) {
	case X_FAUCET_C1: return chain_faucet(c, x->addr[M_C1], &v1, now, NULL);
	case X_WITHDRAW_C0_2: return chain_withdraw(c, x->addr[M_C0], &v2, now, NULL);
	case X_WITHDRAW_C0_9: return chain_withdraw(c, x->addr[M_C0], &v9, now, NULL);
	case X_STAKE_P0_2: return chain_stake(c, x->addr[M_P0], &v2, now, NULL);
	case X_UNSTAKE_P0_1: return chain_unstake(c, x->addr[M_P0], &v1, now, NULL);
	case X_RELEASE_UNBONDED_P0: return chain_release_unbonded(c, x->addr[M_P0], now, NULL);
	case X_LOCK_J0_C0_2:
		return chain_lock(c, x->job[M_J0], x->addr[M_C0], x->addr[M_P0], &v2, now);
	case X_LOCK_J0_C1_1:
		return chain_lock(c, x->job[M_J0], x->addr[M_C1], x->addr[M_P0], &v1, now);
	case X_LOCK_J1_C0_0:
		return chain_lock(c, x->job[M_J1], x->addr[M_C0], x->addr[M_P0], &v0, now);
	case X_RELEASE_J0_1: return chain_release(c, x->job[M_J0], &v1, now);
	case X_RELEASE_J0_3: return chain_release(c, x->job[M_J0], &v3, now);
	case X_REFUND_J0: return chain_refund(c, x->job[M_J0], now);
	case X_SLASH_P0_J0:
		return chain_slash(c, x->addr[M_P0], &v2, x->addr[M_V], &v1, x->job[M_J0], now);
	case X_SLASH_P0_NOJOB:
		return chain_slash(c, x->addr[M_P0], &v1, x->addr[M_V], &v0, T_ZERO_JOB, now);
	case X_RELEASE_J1_0: return chain_release(c, x->job[M_J1], &v0, now);
	default: cr_assert_fail("op %d", op);
	}
	return CHAIN_ERR_ARG;
}

/* The start of every exhaustive run: C0 holds 5, P0 2 and a stake of 2. */
static void m_setup(struct model *m)
{
	memset(m, 0, sizeof(*m));
	m_faucet(m, M_C0, 5);
	m_faucet(m, M_P0, 4);
	m_stake(m, M_P0, 2);
}

/* Compares the ledger with the model: every actor's balances, and the
 * events since *seq (the last operation's) one by one. */
static void m_compare(struct chain *c, const struct model *m, const struct uni *x,
		      uint64_t *seq, const char *what)
{
	struct chain_event ev[M_EV_MAX + 1];
	size_t n = 0;

	for (int i = 0; i < M_ACTORS; i++) {
		struct chain_balance b = t_bal(c, x->addr[i]);
		cr_assert_eq(u_low(&b.available), m->a[i].avail, "%s: actor %d available", what, i);
		cr_assert_eq(u_low(&b.stake), m->a[i].stake, "%s: actor %d stake", what, i);
		cr_assert_eq(u_low(&b.unbonding), m_unbonding(&m->a[i]), "%s: actor %d unbonding",
			     what, i);
		cr_assert_eq(b.next_release_s, m_next_release(&m->a[i]),
			     "%s: actor %d next release", what, i);
	}
	cr_assert_eq(chain_events(c, ev, &n, M_EV_MAX + 1, *seq), CHAIN_OK);
	cr_assert_eq((int)n, m->n_ev, "%s: %zu events, model %d", what, n, m->n_ev);
	for (size_t k = 0; k < n; k++) {
		const struct m_event *e = &m->ev[k];
		uint8_t zero[RCPT_ADDR_BYTES] = { 0 };
		cr_assert_eq(ev[k].seq, *seq + 1 + k, "%s: dense seq", what);
		cr_assert_eq(ev[k].kind, e->kind, "%s: event %zu kind", what, k);
		cr_assert_arr_eq(ev[k].from, e->from < 0 ? zero : x->addr[e->from],
				 RCPT_ADDR_BYTES, "%s: event %zu from", what, k);
		cr_assert_arr_eq(ev[k].to, e->to < 0 ? zero : x->addr[e->to],
				 RCPT_ADDR_BYTES, "%s: event %zu to", what, k);
		cr_assert_arr_eq(ev[k].job, e->job < 0 ? T_ZERO_JOB : x->job[e->job],
				 RCPT_HASH_BYTES, "%s: event %zu job", what, k);
		cr_assert_eq(u_low(&ev[k].amount), e->amount, "%s: event %zu amount", what, k);
	}
	*seq += n;
}

/* Runs `ops` (len of them) in a fresh universe from the funded start
 * (m_setup), comparing after every step; returns whether the last
 * step changed the model (a refused or empty step does not). */
static int x_run(struct chain *c, PGconn *db, uint32_t uni_id, uint64_t *seq,
		 const int *ops, int len)
{
	struct model m, before;
	struct uni x;
	char what[256];
	int changed = 0;

	/* Back to the ledger a fresh migration leaves: the checks after
	 * every step then read a few rows, not every earlier run's. */
	pgt_exec(db, "DELETE FROM transfers; DELETE FROM unbonding; DELETE FROM jobs; "
		 "DELETE FROM slashes; DELETE FROM accounts WHERE kind NOT IN ('world', 'treasury'); "
		 "UPDATE accounts SET balance = 0; UPDATE ledger_head SET seq = 0");
	*seq = 0;

	m_setup(&m);
	uni_init(&x, uni_id);
	{
		struct rcpt_u256 v5 = u(5), v4 = u(4), v2 = u(2);
		OP(c, CHAIN_OK, chain_faucet(c, x.addr[M_C0], &v5, 1, NULL));
		OP(c, CHAIN_OK, chain_faucet(c, x.addr[M_P0], &v4, 1, NULL));
		OP(c, CHAIN_OK, chain_stake(c, x.addr[M_P0], &v2, 1, NULL));
	}
	m_compare(c, &m, &x, seq, "setup");
	for (int s = 0; s < len; s++) {
		uint64_t now = 2 + (uint64_t)s;
		enum chain_err want, got;

		before = m;
		m.n_ev = 0;
		want = x_model(&m, ops[s], now);
		if (want != CHAIN_OK) {
			/* refused: nothing changes */
			m = before;
			m.n_ev = 0;
		}
		got = x_chain(c, &x, ops[s], now);
		snprintf(what, sizeof(what), "universe %u step %d %s", uni_id, s, x_names[ops[s]]);
		cr_assert_eq(got, want, "%s: got %s, want %s", what, chain_errname(got),
			     chain_errname(want));
		t_invariants(c, what, __LINE__);
		m_compare(c, &m, &x, seq, what);
		before.n_ev = 0;
		m.n_ev = 0;
		changed = memcmp(&before, &m, sizeof(m)) != 0;
	}
	return changed;
}

#define X_DEPTH 3

/* Whether the last of `ops` changes the model (a refused or empty step
 * does not). */
static int x_changes(const int *ops, int len)
{
	struct model m, before;

	m_setup(&m);
	before = m;
	for (int s = 0; s < len; s++) {
		before = m;
		before.n_ev = 0;
		m.n_ev = 0;
		if (x_model(&m, ops[s], 2 + (uint64_t)s) != CHAIN_OK)
			m = before;
		m.n_ev = 0;
	}
	return memcmp(&before, &m, sizeof(m)) != 0;
}

/* Depth-first over every sequence of operations that starts with
 * `first`, up to X_DEPTH steps; a sequence whose last step changes
 * nothing is not extended (its extensions are those of its prefix).
 * Only the maximal sequences run against the ledger: each run checks
 * every step of its prefix too. */
static void x_explore(struct chain *c, PGconn *db, uint32_t *uni, uint64_t *seq,
		      int *ops, int len, size_t *runs)
{
	if (len == X_DEPTH || !x_changes(ops, len)) {
		(void)x_run(c, db, (*uni)++, seq, ops, len);
		(*runs)++;
		return;
	}
	for (int op = 0; op < X_OPS; op++) {
		ops[len] = op;
		x_explore(c, db, uni, seq, ops, len + 1, runs);
	}
}

ParameterizedTestParameters(chain_exhaustive, every_transition_from_every_state)
{
	static int first[X_OPS];

	for (int i = 0; i < X_OPS; i++)
		first[i] = i;
	return cr_make_param_array(int, first, X_OPS);
}

ParameterizedTest(int *first, chain_exhaustive, every_transition_from_every_state,
		  .timeout = 120)
{
	struct pgt_db db;
	struct chain *c;
	int ops[X_DEPTH];
	uint32_t uni = 1;
	uint64_t seq = 0;
	size_t runs = 0;

	PGconn *conn;

	pgt_db_create(&db);
	c = t_open(&db, 1);
	conn = PQconnectdb(db.conninfo);
	cr_assert(PQstatus(conn) == CONNECTION_OK);
	ops[0] = *first;
	x_explore(c, conn, &uni, &seq, ops, 1, &runs);
	PQfinish(conn);
	cr_assert(runs >= 1);
	cr_log_info("first %s: %zu sequences", x_names[*first], runs);
	chain_free(c);
	pgt_db_drop(&db);
}

/* ------------------------------------------------------------------ */
/* One story, every call, events checked                               */

Test(chain, a_job_from_deposit_to_payout)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t cu[RCPT_ADDR_BYTES], pr[RCPT_ADDR_BYTES], va[RCPT_ADDR_BYTES];
	uint8_t job[RCPT_HASH_BYTES];
	struct rcpt_u256 v100 = u(100), v10 = u(10), v7 = u(7), v3 = u(3), v4 = u(4);
	struct chain_balance b;
	struct chain_event ev[16];
	size_t n = 0;

	t_addr(cu, 1, 0);
	t_addr(pr, 2, 0);
	t_addr(va, 3, 0);
	t_job(job, 1, 0);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	b = t_bal(c, cu);
	cr_assert_eq(u_low(&b.available) + u_low(&b.stake) + u_low(&b.unbonding), 0);
	OP(c, CHAIN_OK, chain_faucet(c, cu, &v100, 10, NULL));
	OP(c, CHAIN_OK, chain_faucet(c, pr, &v100, 10, NULL));
	OP(c, CHAIN_OK, chain_stake(c, pr, &v10, 11, NULL));
	OP(c, CHAIN_OK, chain_lock(c, job, cu, pr, &v10, 12));
	b = t_bal(c, cu);
	cr_assert_eq(u_low(&b.available), 90);
	OP(c, CHAIN_OK, chain_release(c, job, &v7, 13));
	b = t_bal(c, cu);
	cr_assert_eq(u_low(&b.available), 93);
	b = t_bal(c, pr);
	cr_assert_eq(u_low(&b.available), 97);
	cr_assert_eq(u_low(&b.stake), 10);
	OP(c, CHAIN_OK, chain_unstake(c, pr, &v4, 14, NULL));
	b = t_bal(c, pr);
	cr_assert_eq(u_low(&b.stake), 6);
	cr_assert_eq(u_low(&b.unbonding), 4);
	cr_assert_eq(b.next_release_s, 14 + T_UNBONDING_S);
	OP(c, CHAIN_OK, chain_release_unbonded(c, pr, 14, NULL));     /* not yet due */
	cr_assert_eq(t_unbonding(c, pr), 4);
	OP(c, CHAIN_OK, chain_release_unbonded(c, pr, 15, NULL));
	b = t_bal(c, pr);
	cr_assert_eq(u_low(&b.unbonding), 0);
	cr_assert_eq(b.next_release_s, 0);
	cr_assert_eq(u_low(&b.available), 101);
	OP(c, CHAIN_OK, chain_slash(c, pr, &v4, va, &v3, T_ZERO_JOB, 16));
	OP(c, CHAIN_OK, chain_withdraw(c, va, &v3, 17, NULL));

	cr_assert_eq(chain_events(c, ev, &n, 16, 0), CHAIN_OK);
	cr_assert_eq(n, 11);
	{
		static const enum chain_event_kind kinds[12] = {
			CHAIN_EV_DEPOSIT, CHAIN_EV_DEPOSIT, CHAIN_EV_STAKE, CHAIN_EV_LOCK,
			CHAIN_EV_PAY, CHAIN_EV_RETURN, CHAIN_EV_UNSTAKE, CHAIN_EV_UNBOND,
			CHAIN_EV_SLASH_BOUNTY, CHAIN_EV_SLASH_KEEP, CHAIN_EV_WITHDRAW, 0,
		};
		for (size_t i = 0; i < 11; i++) {
			cr_assert_eq(ev[i].seq, i + 1);
			cr_assert_eq(ev[i].kind, kinds[i], "event %zu", i);
		}
	}
	cr_assert_eq(ev[3].at_s, 12);
	cr_assert_arr_eq(ev[3].from, cu, RCPT_ADDR_BYTES);
	cr_assert_arr_eq(ev[3].job, job, RCPT_HASH_BYTES);
	cr_assert_eq(u_low(&ev[4].amount), 7);
	cr_assert_arr_eq(ev[4].to, pr, RCPT_ADDR_BYTES);
	cr_assert_eq(u_low(&ev[5].amount), 3);
	cr_assert_arr_eq(ev[8].to, va, RCPT_ADDR_BYTES);
	cr_assert_eq(u_low(&ev[9].amount), 1);
	/* paging */
	cr_assert_eq(chain_events(c, ev, &n, 5, 4), CHAIN_OK);
	cr_assert_eq(n, 5);
	cr_assert_eq(ev[0].seq, 5);
	cr_assert_eq(chain_events(c, ev, &n, 16, 10), CHAIN_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(chain_events(c, ev, &n, 16, 11), CHAIN_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(chain_events(c, ev, &n, 0, 0), CHAIN_OK);
	cr_assert_eq(n, 0);
	chain_free(c);
	pgt_db_drop(&db);
}

/* A slash takes the stake first, then the unbonding entries, latest
 * release first; the earliest entry is the one left. */
/* Operation ids (chain.h): an account movement asked for again under
 * its id moves nothing and answers EXISTS, so a caller that lost the
 * answer after COMMIT can ask again; the id under another movement is
 * OP_REUSED; without an id every call moves. */
Test(chain, operation_ids_move_money_once)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t a[RCPT_ADDR_BYTES], b[RCPT_ADDR_BYTES], op[6][CHAIN_OP_BYTES];
	struct rcpt_u256 v100 = u(100), v30 = u(30), v10 = u(10), v5 = u(5);
	struct chain_balance bl;
	int i;

	for (i = 0; i < 6; i++) {
		memset(op[i], 0, CHAIN_OP_BYTES);
		op[i][0] = 0xa0;
		op[i][31] = (uint8_t)i;
	}
	t_addr(a, 7, 0);
	t_addr(b, 8, 0);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	OP(c, CHAIN_OK, chain_faucet(c, a, &v100, 10, op[0]));
	OP(c, CHAIN_ERR_EXISTS, chain_faucet(c, a, &v100, 11, op[0]));
	OP(c, CHAIN_ERR_EXISTS, chain_faucet(c, a, &v100, 12, op[0]));
	cr_assert_eq(t_avail(c, a), 100, "one faucet under one id");
	/* The id under another amount, address or kind: refused, nothing moved. */
	OP(c, CHAIN_ERR_OP_REUSED, chain_faucet(c, a, &v30, 13, op[0]));
	OP(c, CHAIN_ERR_OP_REUSED, chain_faucet(c, b, &v100, 13, op[0]));
	OP(c, CHAIN_ERR_OP_REUSED, chain_withdraw(c, a, &v100, 13, op[0]));
	cr_assert_eq(t_avail(c, a), 100);
	cr_assert_eq(t_avail(c, b), 0);
	OP(c, CHAIN_OK, chain_stake(c, a, &v30, 14, op[1]));
	OP(c, CHAIN_ERR_EXISTS, chain_stake(c, a, &v30, 15, op[1]));
	OP(c, CHAIN_OK, chain_unstake(c, a, &v10, 16, op[2]));
	OP(c, CHAIN_ERR_EXISTS, chain_unstake(c, a, &v10, 17, op[2]));
	OP(c, CHAIN_OK, chain_withdraw(c, a, &v5, 18, op[3]));
	OP(c, CHAIN_ERR_EXISTS, chain_withdraw(c, a, &v5, 19, op[3]));
	bl = t_bal(c, a);
	cr_assert_eq(u_low(&bl.available), 100 - 30 - 5);
	cr_assert_eq(u_low(&bl.stake), 20);
	cr_assert_eq(u_low(&bl.unbonding), 10);
	OP(c, CHAIN_OK, chain_release_unbonded(c, a, 16 + T_UNBONDING_S + 1, op[4]));
	OP(c, CHAIN_ERR_EXISTS, chain_release_unbonded(c, a, 16 + T_UNBONDING_S + 2, op[4]));
	cr_assert_eq(t_avail(c, a), 100 - 30 - 5 + 10);
	/* A refused movement records no id: the same id works once funds are there. */
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_withdraw(c, b, &v5, 20, op[5]));
	OP(c, CHAIN_OK, chain_faucet(c, b, &v5, 21, NULL));
	OP(c, CHAIN_OK, chain_withdraw(c, b, &v5, 22, op[5]));
	cr_assert_eq(t_avail(c, b), 0);
	/* Without an id, each call moves. */
	OP(c, CHAIN_OK, chain_faucet(c, b, &v5, 23, NULL));
	OP(c, CHAIN_OK, chain_faucet(c, b, &v5, 24, NULL));
	cr_assert_eq(t_avail(c, b), 10);
	cr_assert_eq(t_count(&db, "SELECT count(*) FROM ledger_ops"), 6);
	chain_free(c);
	pgt_db_drop(&db);
}

Test(chain, slash_reaches_into_unbonding_latest_first)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t pr[RCPT_ADDR_BYTES], va[RCPT_ADDR_BYTES];
	struct rcpt_u256 v10 = u(10), v2 = u(2), v3 = u(3), v6 = u(6), v5 = u(5);
	struct chain_balance b;

	t_addr(pr, 2, 1);
	t_addr(va, 3, 1);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	OP(c, CHAIN_OK, chain_faucet(c, pr, &v10, 1, NULL));
	OP(c, CHAIN_OK, chain_stake(c, pr, &v10, 1, NULL));
	OP(c, CHAIN_OK, chain_unstake(c, pr, &v3, 100, NULL));   /* due 101 */
	OP(c, CHAIN_OK, chain_unstake(c, pr, &v3, 200, NULL));   /* due 201 */
	/* stake 4: slash 6 = 4 from stake, 2 from the entry due at 201 */
	OP(c, CHAIN_OK, chain_slash(c, pr, &v6, va, &v5, T_ZERO_JOB, 300));
	b = t_bal(c, pr);
	cr_assert_eq(u_low(&b.stake), 0);
	cr_assert_eq(u_low(&b.unbonding), 4);
	cr_assert_eq(b.next_release_s, 101);
	cr_assert_eq(t_avail(c, va), 5);
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_slash(c, pr, &v5, va, &v2, T_ZERO_JOB, 300));
	OP(c, CHAIN_OK, chain_release_unbonded(c, pr, 150, NULL));
	b = t_bal(c, pr);
	cr_assert_eq(u_low(&b.available), 3);
	cr_assert_eq(u_low(&b.unbonding), 1);
	cr_assert_eq(b.next_release_s, 201);
	chain_free(c);
	pgt_db_drop(&db);
}

/* ------------------------------------------------------------------ */
/* Bad input: each refused with its code, nothing changed               */

Test(chain, bad_input_is_refused_and_changes_nothing)
{
	struct pgt_db db;
	struct chain *c, *prod;
	uint8_t a[RCPT_ADDR_BYTES], b2[RCPT_ADDR_BYTES], p[RCPT_ADDR_BYTES];
	uint8_t zero_addr[RCPT_ADDR_BYTES] = { 0 };
	uint8_t job[RCPT_HASH_BYTES], other[RCPT_HASH_BYTES];
	struct rcpt_u256 v0 = u(0), v1 = u(1), v2 = u(2), v5 = u(5);
	struct rcpt_u256 max = u_max_minus(0), max1 = u_max_minus(1);
	struct chain_event ev[4];
	struct chain_balance bal;
	size_t n;
	uint64_t seq;

	t_addr(a, 1, 2);
	t_addr(b2, 4, 2);
	t_addr(p, 2, 2);
	t_job(job, 1, 2);
	t_job(other, 2, 2);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	prod = t_open(&db, 0);

	/* zero amounts, NULLs, the zero address, times out of range */
	OP(c, CHAIN_ERR_ARG, chain_faucet(c, a, &v0, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_withdraw(c, a, &v0, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_stake(c, a, &v0, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_unstake(c, a, &v0, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_faucet(c, zero_addr, &v1, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_faucet(c, a, NULL, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_faucet(c, a, &v1, UINT64_MAX, NULL));
	OP(c, CHAIN_ERR_ARG, chain_release_unbonded(c, zero_addr, 1, NULL));
	OP(c, CHAIN_ERR_ARG, chain_lock(c, T_ZERO_JOB, a, p, &v1, 1));
	OP(c, CHAIN_ERR_ARG, chain_lock(c, job, zero_addr, p, &v1, 1));
	OP(c, CHAIN_ERR_ARG, chain_release(c, job, NULL, 1));
	OP(c, CHAIN_ERR_ARG, chain_slash(c, p, &v0, a, &v0, job, 1));
	OP(c, CHAIN_ERR_ARG, chain_slash(c, p, &v1, a, &v2, job, 1));   /* bounty > amount */
	OP(c, CHAIN_ERR_ARG, chain_events(c, NULL, &n, 4, 0));
	cr_assert_eq(t_last_seq(c), 0);

	/* faucet off a devnet */
	OP(c, CHAIN_ERR_NOT_DEVNET, chain_faucet(prod, a, &v1, 1, NULL));

	/* overflow near 2^256: the money in the system stays below it */
	OP(c, CHAIN_OK, chain_faucet(c, a, &max1, 1, NULL));                   /* 2^256 - 2 */
	OP(c, CHAIN_ERR_OVERFLOW, chain_faucet(c, b2, &v2, 1, NULL));
	OP(c, CHAIN_ERR_OVERFLOW, chain_faucet(c, a, &max, 1, NULL));
	OP(c, CHAIN_OK, chain_faucet(c, b2, &v1, 1, NULL));                    /* 2^256 - 1 */
	OP(c, CHAIN_ERR_OVERFLOW, chain_faucet(c, b2, &v1, 1, NULL));
	bal = t_bal(c, a);
	cr_assert_eq(rcpt_u256_cmp(&bal.available, &max1), 0);
	OP(c, CHAIN_OK, chain_withdraw(c, a, &max1, 2, NULL));
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_withdraw(c, a, &v1, 2, NULL));
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_withdraw(c, b2, &max, 2, NULL));
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_stake(c, b2, &v2, 2, NULL));
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_unstake(c, b2, &v1, 2, NULL));
	OP(c, CHAIN_OK, chain_withdraw(c, b2, &v1, 2, NULL));
	seq = t_last_seq(c);
	cr_assert_eq(seq, 4);

	/* unknown job, stake below the minimum, price above maxPrice,
	 * double settlement, a job id locked twice, a slash repeated */
	OP(c, CHAIN_ERR_NOT_FOUND, chain_release(c, job, &v1, 3));
	OP(c, CHAIN_ERR_NOT_FOUND, chain_refund(c, job, 3));
	OP(c, CHAIN_OK, chain_faucet(c, a, &v5, 3, NULL));
	OP(c, CHAIN_ERR_STAKE_LOW, chain_lock(c, job, a, p, &v1, 3));
	OP(c, CHAIN_OK, chain_faucet(c, p, &v5, 3, NULL));
	OP(c, CHAIN_OK, chain_stake(c, p, &v2, 3, NULL));
	OP(c, CHAIN_ERR_INSUFFICIENT, chain_lock(c, job, a, p, &max, 3));
	OP(c, CHAIN_OK, chain_lock(c, job, a, p, &v2, 3));
	OP(c, CHAIN_ERR_EXISTS, chain_lock(c, job, a, p, &v2, 4));
	OP(c, CHAIN_ERR_EXISTS, chain_lock(c, job, b2, p, &v1, 4));
	OP(c, CHAIN_ERR_PRICE, chain_release(c, job, &v5, 4));
	OP(c, CHAIN_OK, chain_release(c, job, &v2, 4));
	OP(c, CHAIN_ERR_SETTLED, chain_release(c, job, &v2, 5));
	OP(c, CHAIN_ERR_SETTLED, chain_refund(c, job, 5));
	OP(c, CHAIN_ERR_EXISTS, chain_lock(c, job, a, p, &v1, 5));
	OP(c, CHAIN_OK, chain_slash(c, p, &v1, a, &v1, job, 5));
	OP(c, CHAIN_ERR_SETTLED, chain_slash(c, p, &v1, a, &v1, job, 6));
	OP(c, CHAIN_OK, chain_lock(c, other, a, p, &v0, 6));   /* zero maxPrice: no transfer */
	OP(c, CHAIN_ERR_PRICE, chain_release(c, other, &v1, 6));
	OP(c, CHAIN_OK, chain_refund(c, other, 6));
	bal = t_bal(c, a);
	cr_assert_eq(u_low(&bal.available), 4);
	cr_assert_eq(t_avail(c, p), 5);
	/* deposit, deposit, stake, lock, pay, slash_bounty */
	cr_assert_eq(t_last_seq(c), seq + 6);
	cr_assert_eq(chain_events(c, ev, &n, 4, seq + 3), CHAIN_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(ev[0].kind, CHAIN_EV_LOCK);
	cr_assert_eq(ev[1].kind, CHAIN_EV_PAY);
	cr_assert_eq(ev[2].kind, CHAIN_EV_SLASH_BOUNTY);
	chain_free(prod);
	chain_free(c);
	pgt_db_drop(&db);
}

/* The CHECK constraints hold even against SQL that bypasses the code,
 * and the invariant check notices a ledger edited behind its back. */
Test(chain, constraints_and_invariants_catch_tampering)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t a[RCPT_ADDR_BYTES];
	struct rcpt_u256 v5 = u(5);
	char why[256];
	PGconn *conn;
	PGresult *res;

	t_addr(a, 1, 3);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	OP(c, CHAIN_OK, chain_faucet(c, a, &v5, 1, NULL));
	conn = PQconnectdb(db.conninfo);
	cr_assert(PQstatus(conn) == CONNECTION_OK);
	res = PQexec(conn, "UPDATE accounts SET balance = -1 WHERE kind = 'available'");
	cr_assert(PQresultStatus(res) == PGRES_FATAL_ERROR);
	PQclear(res);
	res = PQexec(conn, "UPDATE accounts SET balance = 2::numeric ^ 256 WHERE kind = 'treasury'");
	cr_assert(PQresultStatus(res) == PGRES_FATAL_ERROR);
	PQclear(res);
	pgt_exec(conn, "UPDATE accounts SET balance = balance + 1 WHERE kind = 'available'");
	cr_assert_eq(chain_check_invariants(c, why, sizeof(why)), CHAIN_ERR_BACKEND);
	cr_assert(strncmp(why, "I1", 2) == 0, "%s", why);
	pgt_exec(conn, "UPDATE accounts SET balance = balance - 1 WHERE kind = 'world'");
	cr_assert_eq(chain_check_invariants(c, why, sizeof(why)), CHAIN_ERR_BACKEND);
	cr_assert(strncmp(why, "I5", 2) == 0, "%s", why);
	PQfinish(conn);
	chain_free(c);
	pgt_db_drop(&db);
}

/* ------------------------------------------------------------------ */
/* Races: two (or more) connections, many rounds each                   */

#define RACE_ROUNDS 25
#define RACE_MAX 4

struct race {
	struct chain *c[RACE_MAX];
	int n;
	pthread_barrier_t start;
	uint8_t a[4][RCPT_ADDR_BYTES];    /* this round's parties */
	uint8_t job[RCPT_HASH_BYTES];
	int kind;                        /* which race */
	enum chain_err rc[RACE_MAX];
};

struct race_arg {
	struct race *r;
	int i;
};

enum { RACE_SETTLE, RACE_WITHDRAW, RACE_SLASH_UNSTAKE, RACE_LOCK };

static void *race_thread(void *arg)
{
	struct race_arg *ra = arg;
	struct race *r = ra->r;
	struct chain *c = r->c[ra->i];
	struct rcpt_u256 v1 = u(1), v2 = u(2), v3 = u(3);
	enum chain_err rc = CHAIN_ERR_ARG;

	pthread_barrier_wait(&r->start);
	switch (r->kind) {
	case RACE_SETTLE:
		/* 0 release, 1 refund, 2 and 3 slash the provider for the job */
		if (ra->i == 0)
			rc = chain_release(c, r->job, &v2, 50);
		else if (ra->i == 1)
			rc = chain_refund(c, r->job, 50);
		else
			rc = chain_slash(c, r->a[1], &v2, r->a[2], &v1, r->job, 50);
		break;
	case RACE_WITHDRAW:
		rc = chain_withdraw(c, r->a[0], &v2, 50, NULL);
		break;
	case RACE_SLASH_UNSTAKE:
		if (ra->i == 0)
			rc = chain_unstake(c, r->a[1], &v2, 50, NULL);
		else
			rc = chain_slash(c, r->a[1], &v2, r->a[2], &v1, r->job, 50);
		break;
	case RACE_LOCK:
		rc = chain_lock(c, r->job, r->a[0], r->a[1], &v3, 50);
		break;
	default:
		break;
	}
	r->rc[ra->i] = rc;
	return NULL;
}

static void race_go(struct race *r)
{
	pthread_t th[RACE_MAX];
	struct race_arg args[RACE_MAX];

	cr_assert_eq(pthread_barrier_init(&r->start, NULL, (unsigned)r->n), 0);
	for (int i = 0; i < r->n; i++) {
		args[i] = (struct race_arg){ r, i };
		cr_assert_eq(pthread_create(&th[i], NULL, race_thread, &args[i]), 0);
	}
	for (int i = 0; i < r->n; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&r->start);
}

static int race_count(const struct race *r, int from, int to, enum chain_err rc)
{
	int k = 0;

	for (int i = from; i < to; i++)
		k += r->rc[i] == rc;
	return k;
}

static void race_run(int kind, int n)
{
	struct pgt_db db;
	struct race r;
	struct rcpt_u256 v3 = u(3), v5 = u(5), v2 = u(2);

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.n = n;
	pgt_db_create(&db);
	for (int i = 0; i < n; i++)
		r.c[i] = t_open(&db, 1);
	for (uint32_t round = 0; round < RACE_ROUNDS; round++) {
		struct chain *c = r.c[0];
		struct chain_balance b0, b1, b2;

		for (int i = 0; i < 4; i++)
			t_addr(r.a[i], (uint8_t)(0xc0 + i), round);
		t_job(r.job, 5, round);
		/* a[0] customer with 5 (3 for RACE_WITHDRAW), a[1] provider
		 * staking 2, a[2] the bounty's recipient */
		OP(c, CHAIN_OK, chain_faucet(c, r.a[0], kind == RACE_WITHDRAW ? &v3 : &v5, 40, NULL));
		OP(c, CHAIN_OK, chain_faucet(c, r.a[1], &v2, 40, NULL));
		OP(c, CHAIN_OK, chain_stake(c, r.a[1], &v2, 40, NULL));
		if (kind == RACE_SETTLE)
			OP(c, CHAIN_OK, chain_lock(c, r.job, r.a[0], r.a[1], &v3, 41));
		race_go(&r);
		t_invariants(c, "race", __LINE__);
		b0 = t_bal(c, r.a[0]);
		b1 = t_bal(c, r.a[1]);
		b2 = t_bal(c, r.a[2]);
		switch (kind) {
		case RACE_SETTLE:
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_OK), 1, "release %s refund %s",
				     chain_errname(r.rc[0]), chain_errname(r.rc[1]));
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_ERR_SETTLED), 1);
			cr_assert_eq(race_count(&r, 2, 4, CHAIN_OK), 1);
			cr_assert_eq(race_count(&r, 2, 4, CHAIN_ERR_SETTLED), 1);
			/* released at 2: customer 2 + 1, provider 2; refunded: 5, 0 */
			cr_assert_eq(u_low(&b0.available), r.rc[0] == CHAIN_OK ? 3 : 5);
			cr_assert_eq(u_low(&b1.available), r.rc[0] == CHAIN_OK ? 2 : 0);
			cr_assert_eq(u_low(&b1.stake), 0);
			cr_assert_eq(u_low(&b2.available), 1);
			break;
		case RACE_WITHDRAW:
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_OK), 1, "%s %s",
				     chain_errname(r.rc[0]), chain_errname(r.rc[1]));
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_ERR_INSUFFICIENT), 1);
			cr_assert_eq(u_low(&b0.available), 1);
			break;
		case RACE_SLASH_UNSTAKE:
			/* the slash always wins: from the stake, or from the
			 * unbonding the unstake made */
			cr_assert_eq(r.rc[1], CHAIN_OK, "slash: %s", chain_errname(r.rc[1]));
			cr_assert(r.rc[0] == CHAIN_OK || r.rc[0] == CHAIN_ERR_INSUFFICIENT);
			cr_assert_eq(u_low(&b1.stake) + u_low(&b1.unbonding), 0);
			cr_assert_eq(u_low(&b2.available), 1);
			break;
		case RACE_LOCK:
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_OK), 1, "%s %s",
				     chain_errname(r.rc[0]), chain_errname(r.rc[1]));
			cr_assert_eq(race_count(&r, 0, 2, CHAIN_ERR_EXISTS), 1);
			cr_assert_eq(u_low(&b0.available), 2);
			break;
		default:
			break;
		}
	}
	for (int i = 0; i < n; i++)
		chain_free(r.c[i]);
	pgt_db_drop(&db);
}

Test(chain_race, release_refund_and_two_slashes_on_one_job)
{
	race_run(RACE_SETTLE, 4);
}

Test(chain_race, two_withdrawals_that_do_not_both_fit)
{
	race_run(RACE_WITHDRAW, 2);
}

Test(chain_race, slash_against_unstake)
{
	race_run(RACE_SLASH_UNSTAKE, 2);
}

Test(chain_race, the_same_job_locked_twice)
{
	race_run(RACE_LOCK, 2);
}

/* ------------------------------------------------------------------ */
/* Faults                                                               */

/* The server drops the idle connection (pg_terminate_backend): the next
 * call finds the session dead before using it (common/pg_alive.h),
 * reconnects and succeeds, once. */
Test(chain_fault, connection_killed_then_reconnected)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t a[RCPT_ADDR_BYTES];
	struct rcpt_u256 v5 = u(5), v1 = u(1);

	t_addr(a, 1, 4);
	pgt_db_create(&db);
	c = t_open(&db, 1);
	OP(c, CHAIN_OK, chain_faucet(c, a, &v5, 1, NULL));
	cr_assert_geq(pgt_terminate_all(&db), 1);
	OP(c, CHAIN_OK, chain_withdraw(c, a, &v1, 2, NULL));
	cr_assert_eq(t_avail(c, a), 4);
	cr_assert_eq(t_last_seq(c), 2);
	chain_free(c);
	pgt_db_drop(&db);
}

/* PostgreSQL restarted mid-run: calls while it is down report
 * unavailable and change nothing; after the restart the retry works.
 * Runs alone (pgt_db_create_alone): it stops the shared server. */
Test(chain_fault, postgresql_restarted_mid_run, .timeout = 120)
{
	struct pgt_db db;
	struct chain *c;
	uint8_t a[RCPT_ADDR_BYTES], p[RCPT_ADDR_BYTES];
	uint8_t job[RCPT_HASH_BYTES];
	struct rcpt_u256 v5 = u(5), v1 = u(1), v2 = u(2);
	struct chain_balance b;
	struct chain_event ev[2];
	size_t n = 0;

	t_addr(a, 1, 5);
	t_addr(p, 2, 5);
	t_job(job, 1, 5);
	pgt_db_create_alone(&db);
	c = t_open(&db, 1);
	OP(c, CHAIN_OK, chain_faucet(c, a, &v5, 1, NULL));
	OP(c, CHAIN_OK, chain_faucet(c, p, &v5, 1, NULL));
	OP(c, CHAIN_OK, chain_stake(c, p, &v1, 1, NULL));
	pgt_server_stop();
	cr_assert_eq(chain_lock(c, job, a, p, &v2, 2), CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_lock(c, job, a, p, &v2, 2), CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_balance(c, &b, a), CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_events(c, ev, &n, 2, 0), CHAIN_ERR_UNAVAILABLE);
	cr_assert_eq(chain_check_invariants(c, NULL, 0), CHAIN_ERR_UNAVAILABLE);
	pgt_server_start();
	/* nothing happened while it was down */
	b = t_bal(c, a);
	cr_assert_eq(u_low(&b.available), 5);
	cr_assert_eq(t_last_seq(c), 3);
	t_invariants(c, "restart", __LINE__);
	OP(c, CHAIN_OK, chain_lock(c, job, a, p, &v2, 3));
	OP(c, CHAIN_OK, chain_release(c, job, &v1, 4));
	cr_assert_eq(t_avail(c, a), 4);
	chain_free(c);
	pgt_db_drop(&db);
}

/* ------------------------------------------------------------------ */
/* Soak: random operations from four connections on shared parties     */

#define SOAK_THREADS 4
#define SOAK_OPS 150
#define SOAK_PARTIES 4
#define SOAK_JOBS 12

struct soak {
	struct chain *c[SOAK_THREADS];
	uint8_t party[SOAK_PARTIES][RCPT_ADDR_BYTES];
	uint8_t job[SOAK_JOBS][RCPT_HASH_BYTES];
	pthread_barrier_t start;
	int bad[SOAK_THREADS];            /* first unexpected result, or 0 */
	int bad_op[SOAK_THREADS];
};

struct soak_arg {
	struct soak *s;
	int i;
};

static uint32_t soak_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void *soak_thread(void *arg)
{
	struct soak_arg *sa = arg;
	struct soak *s = sa->s;
	struct chain *c = s->c[sa->i];
	uint32_t x = 0x9e3779b9u * (uint32_t)(sa->i + 1);

	pthread_barrier_wait(&s->start);
	for (int k = 0; k < SOAK_OPS && !s->bad[sa->i]; k++) {
		const uint8_t *a = s->party[soak_rand(&x) % SOAK_PARTIES];
		const uint8_t *b = s->party[soak_rand(&x) % SOAK_PARTIES];
		const uint8_t *j = s->job[soak_rand(&x) % SOAK_JOBS];
		struct rcpt_u256 amt = u(1 + soak_rand(&x) % 3), small = u(soak_rand(&x) % 2);
		uint64_t now = 100 + (uint64_t)k;
		enum chain_err rc;
		int op = (int)(soak_rand(&x) % 10);

		switch (op) {
		case 0: rc = chain_faucet(c, a, &amt, now, NULL); break;
		case 1: rc = chain_withdraw(c, a, &amt, now, NULL); break;
		case 2: rc = chain_stake(c, a, &amt, now, NULL); break;
		case 3: rc = chain_unstake(c, a, &amt, now, NULL); break;
		case 4: rc = chain_release_unbonded(c, a, now, NULL); break;
		case 5: rc = chain_lock(c, j, a, b, &amt, now); break;
		case 6: rc = chain_release(c, j, &small, now); break;
		case 7: rc = chain_refund(c, j, now); break;
		case 8: rc = chain_slash(c, a, &amt, b, &small, j, now); break;
		default: rc = chain_slash(c, a, &amt, b, &small, T_ZERO_JOB, now); break;
		}
		/* Refusals the ledger may give here; never an error of its own. */
		if (rc != CHAIN_OK && rc != CHAIN_ERR_INSUFFICIENT && rc != CHAIN_ERR_EXISTS &&
		    rc != CHAIN_ERR_NOT_FOUND && rc != CHAIN_ERR_SETTLED &&
		    rc != CHAIN_ERR_STAKE_LOW && rc != CHAIN_ERR_PRICE) {
			s->bad[sa->i] = (int)rc;
			s->bad_op[sa->i] = op;
		}
	}
	return NULL;
}

/* Afterwards: the invariants hold, and replaying the event log gives
 * every party's balances (available, and stake + unbonding: a slash's
 * event does not say which of the two it took from). */
Test(chain_race, random_operations_from_four_connections)
{
	struct pgt_db db;
	struct soak s;
	struct soak_arg args[SOAK_THREADS];
	pthread_t th[SOAK_THREADS];
	uint64_t avail[SOAK_PARTIES] = { 0 }, bonded[SOAK_PARTIES] = { 0 };
	struct chain_event ev[256];
	uint64_t after = 0;
	size_t n = 0, total = 0;

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < SOAK_PARTIES; i++)
		t_addr(s.party[i], (uint8_t)(0x50 + i), 9);
	for (int j = 0; j < SOAK_JOBS; j++)
		t_job(s.job[j], (uint8_t)j, 9);
	pgt_db_create(&db);
	for (int i = 0; i < SOAK_THREADS; i++)
		s.c[i] = t_open(&db, 1);
	cr_assert_eq(pthread_barrier_init(&s.start, NULL, SOAK_THREADS), 0);
	for (int i = 0; i < SOAK_THREADS; i++) {
		args[i] = (struct soak_arg){ &s, i };
		cr_assert_eq(pthread_create(&th[i], NULL, soak_thread, &args[i]), 0);
	}
	for (int i = 0; i < SOAK_THREADS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&s.start);
	for (int i = 0; i < SOAK_THREADS; i++)
		cr_assert_eq(s.bad[i], 0, "thread %d op %d: %s", i, s.bad_op[i],
			     chain_errname((enum chain_err)s.bad[i]));
	t_invariants(s.c[0], "soak", __LINE__);

	do {
		cr_assert_eq(chain_events(s.c[0], ev, &n, 256, after), CHAIN_OK);
		for (size_t k = 0; k < n; k++) {
			int from = -1, to = -1;
			uint64_t v = u_low(&ev[k].amount);
			cr_assert_eq(ev[k].seq, after + 1 + k);
			for (int i = 0; i < SOAK_PARTIES; i++) {
				if (memcmp(ev[k].from, s.party[i], RCPT_ADDR_BYTES) == 0)
					from = i;
				if (memcmp(ev[k].to, s.party[i], RCPT_ADDR_BYTES) == 0)
					to = i;
			}
			switch (ev[k].kind) {
			case CHAIN_EV_DEPOSIT: avail[to] += v; break;
			case CHAIN_EV_WITHDRAW: avail[from] -= v; break;
			case CHAIN_EV_STAKE: avail[from] -= v; bonded[from] += v; break;
			case CHAIN_EV_UNSTAKE: break;
			case CHAIN_EV_UNBOND: bonded[from] -= v; avail[from] += v; break;
			case CHAIN_EV_LOCK: avail[from] -= v; break;
			case CHAIN_EV_PAY:
			case CHAIN_EV_RETURN: avail[to] += v; break;
			case CHAIN_EV_SLASH_BOUNTY: bonded[from] -= v; avail[to] += v; break;
			case CHAIN_EV_SLASH_KEEP: bonded[from] -= v; break;
			default: cr_assert_fail("event kind %d", (int)ev[k].kind);
			}
		}
		if (n)
			after = ev[n - 1].seq;
		total += n;
	} while (n == 256);
	cr_assert(total > 50, "only %zu transfers", total);
	for (int i = 0; i < SOAK_PARTIES; i++) {
		struct chain_balance b = t_bal(s.c[0], s.party[i]);
		cr_assert_eq(u_low(&b.available), avail[i], "party %d available", i);
		cr_assert_eq(u_low(&b.stake) + u_low(&b.unbonding), bonded[i], "party %d bonded", i);
	}
	for (int i = 0; i < SOAK_THREADS; i++)
		chain_free(s.c[i]);
	pgt_db_drop(&db);
}
