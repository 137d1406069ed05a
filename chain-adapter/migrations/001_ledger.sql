-- 001_ledger.sql: the double-entry ledger of the PostgreSQL backend.
--
-- Applied once, in a transaction, by chain-adapter/pg.c (which creates
-- schema_migrations itself).  Invariants I1-I5 of chain.h: the CHECK
-- constraints below enforce I2 and the uint256 bounds; pg.c's
-- transactions keep I1, I3, I4, I5; chain_check_invariants re-proves all
-- five from the tables.  docs/ledger.md explains the model.

-- One row: the chain this ledger belongs to (pg.c refuses to open it
-- under another chain id) and the sequence number of the last transfer.
-- Every writing transaction locks this row first: writers are serialized,
-- so transfer sequence numbers are handed out in commit order and the
-- event cursor never skips a late-committing transfer.
CREATE TABLE ledger_head (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	chain_id numeric(20,0) NOT NULL CHECK (chain_id >= 0),
	seq bigint NOT NULL DEFAULT 0 CHECK (seq >= 0)
);

CREATE TYPE account_kind AS ENUM
	('available', 'stake', 'unbonding', 'lock', 'world', 'treasury');

-- 2^256 = 115792089237316195423570985008687907853269984665640564039457584007913129639936
CREATE TABLE accounts (
	id bigserial PRIMARY KEY,
	kind account_kind NOT NULL,
	owner bytea,
	job bytea,
	balance numeric(78,0) NOT NULL DEFAULT 0,
	CONSTRAINT accounts_shape CHECK (
		(kind IN ('available', 'stake', 'unbonding')
			AND owner IS NOT NULL AND octet_length(owner) = 20
			AND job IS NULL)
		OR (kind = 'lock' AND owner IS NULL
			AND job IS NOT NULL AND octet_length(job) = 32)
		OR (kind IN ('world', 'treasury') AND owner IS NULL AND job IS NULL)),
	-- I2: no account but world is negative.
	CONSTRAINT accounts_nonneg CHECK (kind = 'world' OR balance >= 0),
	CONSTRAINT accounts_u256 CHECK (kind = 'world' OR balance <
		115792089237316195423570985008687907853269984665640564039457584007913129639936),
	-- world is minus the money in the system: never positive, and the
	-- money in the system stays below 2^256, so no sum of balances can
	-- overflow a uint256 either.
	CONSTRAINT accounts_world_supply CHECK (kind <> 'world' OR (balance <= 0 AND balance >
		-115792089237316195423570985008687907853269984665640564039457584007913129639936))
);
CREATE UNIQUE INDEX accounts_by_owner ON accounts (owner, kind) WHERE owner IS NOT NULL;
CREATE UNIQUE INDEX accounts_by_job ON accounts (job) WHERE job IS NOT NULL;
CREATE UNIQUE INDEX accounts_system ON accounts (kind) WHERE kind IN ('world', 'treasury');

INSERT INTO accounts (kind) VALUES ('world'), ('treasury');

CREATE TYPE transfer_kind AS ENUM
	('deposit', 'withdraw', 'stake', 'unstake', 'unbond', 'lock', 'pay',
	 'return', 'slash_bounty', 'slash_keep');

-- I5: every movement is one row; seq is dense (1, 2, 3, ...) because it
-- comes from ledger_head.seq under the head lock, not from a sequence
-- (which leaves gaps on rollback and orders by start, not commit).
CREATE TABLE transfers (
	seq bigint PRIMARY KEY CHECK (seq > 0),
	kind transfer_kind NOT NULL,
	from_account bigint NOT NULL REFERENCES accounts (id),
	to_account bigint NOT NULL REFERENCES accounts (id),
	amount numeric(78,0) NOT NULL CHECK (amount > 0 AND amount <
		115792089237316195423570985008687907853269984665640564039457584007913129639936),
	job bytea CHECK (job IS NULL OR octet_length(job) = 32),
	at_s bigint NOT NULL CHECK (at_s >= 0),
	CHECK (from_account <> to_account)
);
CREATE INDEX transfers_from ON transfers (from_account);
CREATE INDEX transfers_to ON transfers (to_account);

-- Unstaked funds waiting for release; per owner they sum to the balance
-- of the owner's unbonding account.
CREATE TABLE unbonding (
	id bigserial PRIMARY KEY,
	owner bytea NOT NULL CHECK (octet_length(owner) = 20),
	amount numeric(78,0) NOT NULL CHECK (amount > 0),
	release_at_s bigint NOT NULL CHECK (release_at_s >= 0)
);
CREATE INDEX unbonding_by_owner ON unbonding (owner, release_at_s);

-- I3/I4: a job id is locked once, ever (primary key), and settles once
-- (state moves open -> released | refunded, never back).
CREATE TYPE job_state AS ENUM ('open', 'released', 'refunded');
CREATE TABLE jobs (
	job bytea PRIMARY KEY CHECK (octet_length(job) = 32),
	customer bytea NOT NULL CHECK (octet_length(customer) = 20),
	provider bytea NOT NULL CHECK (octet_length(provider) = 20),
	max_price numeric(78,0) NOT NULL CHECK (max_price >= 0 AND max_price <
		115792089237316195423570985008687907853269984665640564039457584007913129639936),
	state job_state NOT NULL DEFAULT 'open',
	price numeric(78,0) CHECK (price >= 0 AND price <= max_price),
	opened_at_s bigint NOT NULL CHECK (opened_at_s >= 0),
	settled_at_s bigint CHECK (settled_at_s >= 0),
	CONSTRAINT jobs_settled_shape CHECK (
		(state = 'open' AND price IS NULL AND settled_at_s IS NULL)
		OR (state = 'released' AND price IS NOT NULL AND settled_at_s IS NOT NULL)
		OR (state = 'refunded' AND price IS NULL AND settled_at_s IS NOT NULL))
);

-- One slash per offender and job (a NULL job, "not about a job", may
-- repeat).
CREATE TABLE slashes (
	id bigserial PRIMARY KEY,
	offender bytea NOT NULL CHECK (octet_length(offender) = 20),
	job bytea CHECK (job IS NULL OR octet_length(job) = 32),
	amount numeric(78,0) NOT NULL CHECK (amount > 0),
	bounty numeric(78,0) NOT NULL CHECK (bounty >= 0 AND bounty <= amount),
	bounty_to bytea NOT NULL CHECK (octet_length(bounty_to) = 20),
	at_s bigint NOT NULL CHECK (at_s >= 0),
	CONSTRAINT slashes_once UNIQUE (offender, job)
);
