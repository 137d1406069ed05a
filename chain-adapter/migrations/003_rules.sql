-- 003_rules.sql: the statement rules of the PostgreSQL backend
-- (chain.h's statement calls, chain-adapter/pg_rules.c): AssayEscrow's
-- job and dispute records beside the ledger.
--
-- A statement job is a ledger job (jobs, its lock account and its
-- transfers, as chain_lock makes them) plus one rule_jobs row: the
-- money stays where 001_ledger.sql keeps it, so I1-I5 hold unchanged,
-- and chain_check_invariants adds I6 (the rule state agrees with the
-- ledger row and with the disputes).  Jobs opened by chain_lock have no
-- row here: the rules never touch them, and chain_release, chain_refund
-- and chain_slash refuse the jobs that have one.

-- One row per job opened by chain_open_job.  state is PROTOCOL.md
-- section 7's jobState: 1 open, 2 receipted, 3 disputed, 4 paid,
-- 5 refunded.  The commitment (kernel_hash, input_root, input_size) is
-- what a receipt must repeat; receipt, price and window_end_s are set
-- by the receipt.  disputants counts the disputes ever filed (the cap),
-- open_disputes those still open.
CREATE TABLE rule_jobs (
	job bytea PRIMARY KEY REFERENCES jobs (job),
	state smallint NOT NULL CHECK (state BETWEEN 1 AND 5),
	deadline_s bigint NOT NULL CHECK (deadline_s >= 0),
	opened_at_s bigint NOT NULL CHECK (opened_at_s >= 0),
	kernel_hash bytea NOT NULL CHECK (octet_length(kernel_hash) = 32),
	input_root bytea NOT NULL CHECK (octet_length(input_root) = 32),
	input_size bigint NOT NULL CHECK (input_size >= 0),
	receipt bytea CHECK (receipt IS NULL OR octet_length(receipt) = 32),
	price numeric(78,0) CHECK (price >= 0),
	window_end_s bigint CHECK (window_end_s >= 0),
	open_disputes smallint NOT NULL DEFAULT 0 CHECK (open_disputes >= 0),
	disputants smallint NOT NULL DEFAULT 0 CHECK (disputants >= open_disputes),
	CONSTRAINT rule_jobs_receipted CHECK (
		(receipt IS NULL) = (price IS NULL)
		AND (receipt IS NULL) = (window_end_s IS NULL)
		AND (state = 1) = (receipt IS NULL AND state <> 5)
		AND (state <> 5 OR receipt IS NOT NULL OR disputants = 0)),
	CONSTRAINT rule_jobs_disputed CHECK ((state = 3) = (open_disputes > 0))
);

-- One dispute per validator and job, ever.  state: 1 open, 2 provider
-- wrong, 3 validator wrong, 4 moot, 5 expired.
CREATE TABLE rule_disputes (
	job bytea NOT NULL REFERENCES rule_jobs (job),
	validator bytea NOT NULL CHECK (octet_length(validator) = 20),
	state smallint NOT NULL CHECK (state BETWEEN 1 AND 5),
	deadline_s bigint NOT NULL CHECK (deadline_s >= 0),
	PRIMARY KEY (job, validator)
);
-- A validator's open disputes hold its unbonded stake.
CREATE INDEX rule_disputes_open ON rule_disputes (validator) WHERE state = 1;
-- A provider's unsettled jobs: its exposure, and what holds its stake.
CREATE INDEX jobs_open_by_provider ON jobs (provider) WHERE state = 'open';
