/*
 * pgdb.h: the one PostgreSQL layer of Assay (prefix pgdb_), under the
 * ledger (chain-adapter/pg.c) and the escrow's own tables (escrow/db.c).
 *
 * What it gives each of them, so that neither keeps its own copy:
 * - sessions: connect with an application_name, reset a session whose
 *   server went away (common/pg_alive.h) before it is used, and give
 *   every session the same bounds: statement_timeout, lock_timeout and
 *   idle_in_transaction_session_timeout;
 * - prepared statements: a statement's SQL text has static storage (a
 *   literal; its address is its identity, its hash is checked on every
 *   use); the first use on a session prepares it (PQprepare), every
 *   later use runs it by name (PQexecPrepared).  A reset forgets what
 *   was prepared;
 * - typed binders for parameters (struct pgdb_args): text, bytes (binary
 *   bytea), u64, i64 and NULL, their text kept alive in the struct;
 * - error classes (enum pgdb_err) from SQLSTATE, with the constraint's
 *   name kept for the caller's finer mapping and the server's first line
 *   kept for logs (never a parameter value: PostgreSQL does not put
 *   parameters in its messages, and pgdb logs nothing else);
 * - a transaction runner (pgdb_txn): BEGIN at the caller's isolation,
 *   the body, COMMIT; ROLLBACK on any failure; a serialisation failure or
 *   a deadlock (40001, 40P01) is tried again, PGDB_TRIES_MAX times in
 *   all; a BEGIN that finds the server gone reconnects once.  A COMMIT
 *   whose answer is lost is never retried (its outcome is unknown: the
 *   callers make that safe with operation ids);
 * - one migration runner (pgdb_migrate): each migration in its own
 *   transaction under a transaction-scoped advisory lock, recorded in
 *   the caller's table, and a database that a newer program migrated
 *   further is refused.
 *
 * A `struct pgdb` is one session and is used by one thread at a time.
 * Conventions as the rest of the tree: outputs first, a length after its
 * pointer, no pointer NULL unless its comment says so.
 */
#ifndef ASSAY_PGDB_H
#define ASSAY_PGDB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#if defined(__GNUC__)
#define PGDB_WUR __attribute__((warn_unused_result))
#else
#define PGDB_WUR
#endif

/* ------------------------------------------------------------------ */
/* Limits                                                               */

/* Parameters of one statement at most. */
#define PGDB_PARAMS_MAX 16
/* Room for one number's text in struct pgdb_args (a uint256 in decimal
 * is 78 digits). */
#define PGDB_NUM_BYTES 80
/* Statements one session prepares at most: the ledger has ~25, the
 * escrow ~110; past this a statement runs unprepared (PQexecParams) and
 * pgdb_stats counts it, so a growing program is slower, never wrong. */
#define PGDB_PREPARED_MAX 256
/* Tries of one transaction on 40001/40P01, the first included. */
#define PGDB_TRIES_MAX 5
/* A server out of a resource (SQLSTATE class 53: disk full, out of
 * memory, too many connections) fails every statement at once: the
 * first such failure is logged, and then at most one per this many
 * seconds in the whole process, so that a full disk is seen in the log
 * without flooding it. */
#define PGDB_RESOURCE_LOG_INTERVAL_S 60
/* Room for the server's first line of the last error. */
#define PGDB_WHY_BYTES 256
/* Room for application_name and for a constraint's name. */
#define PGDB_NAME_BYTES 64

/* ------------------------------------------------------------------ */
/* Errors                                                               */

enum pgdb_err {
	PGDB_OK = 0,
	PGDB_DOWN,      /* no usable session: class 08, 57P01-03, a lost connection */
	PGDB_BUSY,      /* nothing done, may work later: lock_timeout (55P03),
			 * statement_timeout (57014), 40001/40P01 after the
			 * last try, class 53 (disk full, memory, connections) */
	PGDB_UNIQUE,    /* 23505; pgdb_constraint names the index */
	PGDB_CHECK,     /* 23514 (a CHECK, or a trigger raising it); named */
	PGDB_RANGE,     /* 22003: a numeric value out of its column's range */
	PGDB_SHAPE,     /* the statement worked but returned an unexpected shape */
	PGDB_FAIL,      /* anything else: a bug or a schema mismatch (logged) */
	PGDB_ERR_COUNT_
};

/* Stable short name ("busy"); never NULL. */
const char *pgdb_errname(enum pgdb_err err);

/* ------------------------------------------------------------------ */
/* Statements and parameters                                            */

/* One SQL statement.  `sql` must have static storage duration (a string
 * literal): pgdb keeps its address as the key of the session's prepared
 * statements (and asserts, by a hash, that the text there never changes). */
struct pgdb_stmt {
	const char *what;   /* short label for logs: "job get" */
	const char *sql;    /* one statement, parameters $1..$n */
};

struct pgdb_args {
	const char *v[PGDB_PARAMS_MAX];
	int len[PGDB_PARAMS_MAX];
	int fmt[PGDB_PARAMS_MAX];
	int n;
	char num[PGDB_PARAMS_MAX][PGDB_NUM_BYTES];   /* numbers' text lives here */
};

/* Appenders; each asserts that fewer than PGDB_PARAMS_MAX are bound.
 * text and bytes keep the caller's pointer (it must outlive the call);
 * NULL binds SQL NULL.  bytes go binary: the statement must cast the
 * parameter to bytea ($1::bytea). */
void pgdb_arg_text(struct pgdb_args *a, const char *s);
void pgdb_arg_bytes(struct pgdb_args *a, const uint8_t *p, size_t len);
void pgdb_arg_u64(struct pgdb_args *a, uint64_t v);     /* asserts v <= INT64_MAX */
void pgdb_arg_i64(struct pgdb_args *a, int64_t v);
/* Copies s (shorter than PGDB_NUM_BYTES, asserted) into the struct. */
void pgdb_arg_copy(struct pgdb_args *a, const char *s);

/* ------------------------------------------------------------------ */
/* Sessions                                                             */

struct pgdb_config {
	const char *conninfo;        /* a libpq conninfo or a database name */
	const char *app;             /* application_name: "assay-ledger" */
	const char *log_prefix;      /* "assay-escrow: settle"; NULL: log nothing */
	unsigned statement_timeout_ms;   /* 0: none */
	unsigned lock_timeout_ms;        /* 0: none */
	unsigned idle_in_txn_timeout_ms; /* 0: none */
	/* Called after every new session (first connect and each reset),
	 * e.g. to forget session-level advisory locks.  May be NULL. */
	void (*on_session)(void *arg);
	void *on_session_arg;
};

struct pgdb_stats {
	uint64_t sessions;     /* connects and resets that worked */
	uint64_t prepared;     /* PQprepare calls that worked */
	uint64_t unprepared;   /* runs past PGDB_PREPARED_MAX */
	uint64_t retries;      /* transactions tried again (40001/40P01) */
	uint64_t reconnects;   /* BEGINs that met a dead session and reconnected */
};

struct pgdb {
	PGconn *conn;                     /* NULL until pgdb_open */
	struct pgdb_config cfg;
	char app[PGDB_NAME_BYTES];
	const char *prepared[PGDB_PREPARED_MAX];      /* the SQL texts... */
	uint64_t prepared_hash[PGDB_PREPARED_MAX];    /* ...and their hashes */
	size_t n_prepared;
	int session_ok;                   /* set up and nothing known wrong */
	int retryable;                    /* the last failure was 40001/40P01 */
	char sqlstate[6];                 /* of the last failure; "" when none */
	char constraint[PGDB_NAME_BYTES]; /* of the last failure; "" when none */
	char why[PGDB_WHY_BYTES];         /* the server's first line, for logs */
	struct pgdb_stats stats;
};

/* Connects and sets the session up.  On failure db->why says why and
 * the handle may still be used: the next pgdb_ready tries again.
 * Always pgdb_close it. */
enum pgdb_err pgdb_open(struct pgdb *db, const struct pgdb_config *cfg) PGDB_WUR;
void pgdb_close(struct pgdb *db);
/* A usable session, or PGDB_DOWN: checks the idle session's server is
 * still there and resets it (once) when not. */
enum pgdb_err pgdb_ready(struct pgdb *db) PGDB_WUR;

/* Runs s with a's parameters (a may be NULL for none) as a prepared
 * statement.  On PGDB_OK *out (out may be NULL) holds the result, for
 * the caller to PQclear; on failure *out is NULL and db's last-error
 * fields are set.  Text results. */
enum pgdb_err pgdb_exec(struct pgdb *db, PGresult **out, const struct pgdb_stmt *s,
			const struct pgdb_args *a) PGDB_WUR;
/* The same with n text parameters (params may be NULL when n is 0), the
 * statement given as its label and its SQL (a string literal). */
enum pgdb_err pgdb_exec_sql(struct pgdb *db, PGresult **out, const char *what, const char *sql,
			    int n, const char *const *params) PGDB_WUR;
/* Two statements in one round trip (libpq's pipeline mode), each its
 * own transaction: the first has committed (or failed) before the
 * second runs, and the second runs whatever the first did, as two
 * pgdb_exec_sql calls would (a lock released only after a write has
 * committed: the write first, the release second).  Text parameters,
 * SQL texts literals as for pgdb_exec_sql.  Returns the first statement's
 * class, else the second's. */
enum pgdb_err pgdb_exec_pair(struct pgdb *db, const char *what,
			     const char *sql1, int n1, const char *const *p1,
			     const char *sql2, int n2, const char *const *p2) PGDB_WUR;
/* Runs constant SQL text without preparing it (session set-up,
 * migrations: several statements in one text are allowed). */
enum pgdb_err pgdb_exec_once(struct pgdb *db, const char *what, const char *sql) PGDB_WUR;
/* Rows changed by a command's result (PQcmdTuples), 0 when none. */
long pgdb_affected(const PGresult *res);

/* ------------------------------------------------------------------ */
/* Transactions                                                         */

enum pgdb_iso {
	PGDB_READ_COMMITTED,
	PGDB_REPEATABLE_READ,
	PGDB_SERIALIZABLE,
};

/* A transaction's body: returns 0 to commit, anything else to roll back
 * (the value is handed back to the caller through *body_rc).  It may
 * run again (40001/40P01), so it must do nothing outside the database
 * that it cannot do twice. */
typedef int (*pgdb_body)(struct pgdb *db, void *arg);

/* Runs body in one transaction at iso.  Returns PGDB_OK when the body
 * ran to its end on a try that was not retried: then *body_rc is its
 * value and the transaction committed iff it is 0 and the return is
 * PGDB_OK.  Returns the class of BEGIN's or COMMIT's failure otherwise
 * (PGDB_DOWN after a lost COMMIT: its outcome is unknown), or PGDB_BUSY
 * when every try met 40001/40P01. */
enum pgdb_err pgdb_txn(struct pgdb *db, enum pgdb_iso iso, pgdb_body body, void *arg,
		       int *body_rc) PGDB_WUR;

/* For callers that still manage a transaction by hand across calls. */
enum pgdb_err pgdb_begin(struct pgdb *db, enum pgdb_iso iso) PGDB_WUR;
enum pgdb_err pgdb_commit(struct pgdb *db) PGDB_WUR;
void pgdb_rollback(struct pgdb *db);

/* ------------------------------------------------------------------ */
/* Migrations                                                           */

/* One migration: `name` is the file's base name ("001_ledger"), `sql`
 * its text; scripts/embed-sql.sh emits arrays of these. */
struct pgdb_migration {
	const char *name;
	const char *sql;
};

struct pgdb_schema {
	const struct pgdb_migration *list;   /* in order */
	size_t count;
	const char *table;    /* record table: [a-z_]+, created if missing */
	const char *column;   /* its text primary-key column: [a-z_]+ */
	int64_t lock_key;     /* pg_advisory_xact_lock key serialising migrators */
	const char *what;     /* "ledger", for messages */
};

/* Applies every migration of sc that its table does not list, each in
 * its own transaction under the lock, then refuses (PGDB_FAIL) a
 * database whose table lists a name that sc does not know.  On failure
 * msg (msg_len > 0) says what happened. */
enum pgdb_err pgdb_migrate(struct pgdb *db, char *msg, size_t msg_len,
			   const struct pgdb_schema *sc) PGDB_WUR;

#endif
