-- 001_escrow.sql: the escrow service's tables, beside the ledger's in the
-- same database.  Applied once, in a transaction, by escrow/db.c (which
-- creates escrow_schema_migrations itself).
--
-- A job row is the state machine of docs/escrow.md:
--   opening -> open -> receipted <-> disputed
--   open -> refunding -> refunded          (no receipt by the deadline)
--   receipted -> releasing -> paid         (window closed, no dispute)
--   disputed -> refunding -> refunded      (referee: provider wrong)
-- `opening`, `releasing` and `refunding` are intents: recorded before the
-- ledger call and left only once the ledger has done it, so a restart
-- repeats the (idempotent) call and never skips or doubles it.

CREATE TABLE escrow_jobs (
	id bytea PRIMARY KEY CHECK (octet_length(id) = 32),
	customer bytea NOT NULL CHECK (octet_length(customer) = 20),
	provider bytea NOT NULL CHECK (octet_length(provider) = 20),
	kernel text NOT NULL,
	job_json text NOT NULL,
	job_sig bytea NOT NULL CHECK (octet_length(job_sig) = 65),
	max_price numeric(78,0) NOT NULL CHECK (max_price >= 0),
	deadline_s bigint NOT NULL,
	state text NOT NULL CHECK (state IN ('opening', 'open', 'receipted',
		'disputed', 'releasing', 'refunding', 'paid', 'refunded')),
	open_idem text,
	opened_at_s bigint NOT NULL,
	receipt_id bytea CHECK (receipt_id IS NULL OR octet_length(receipt_id) = 32),
	receipt_json text,
	receipt_sig bytea,
	output_root bytea,
	price numeric(78,0) CHECK (price IS NULL OR (price >= 0 AND price <= max_price)),
	receipted_at_s bigint,
	window_end_s bigint,
	settled_at_s bigint,
	CONSTRAINT escrow_jobs_receipted CHECK (
		state IN ('opening', 'open', 'refunding', 'refunded') OR
		(receipt_id IS NOT NULL AND price IS NOT NULL AND window_end_s IS NOT NULL))
);
CREATE INDEX escrow_jobs_by_state ON escrow_jobs (state, id);

CREATE TABLE escrow_attestations (
	job bytea NOT NULL REFERENCES escrow_jobs (id),
	validator bytea NOT NULL CHECK (octet_length(validator) = 20),
	verdict smallint NOT NULL CHECK (verdict IN (1, 2)),
	output_root bytea NOT NULL,
	att_json text NOT NULL,
	sig bytea NOT NULL,
	at_s bigint NOT NULL,
	PRIMARY KEY (job, validator)
);

-- One per fraud claim.  open -> provider_wrong | validator_wrong | moot;
-- `executed` turns true once the decided slash is on the ledger.
CREATE TABLE escrow_disputes (
	job bytea NOT NULL,
	validator bytea NOT NULL,
	state text NOT NULL CHECK (state IN ('open', 'provider_wrong',
		'validator_wrong', 'moot')),
	opened_at_s bigint NOT NULL,
	input bytea,
	reason text,
	slash_amount numeric(78,0),
	bounty numeric(78,0),
	executed boolean NOT NULL DEFAULT false,
	resolved_at_s bigint,
	PRIMARY KEY (job, validator),
	FOREIGN KEY (job, validator) REFERENCES escrow_attestations (job, validator),
	CONSTRAINT escrow_disputes_amounts CHECK (state IN ('open', 'moot') OR
		(slash_amount IS NOT NULL AND bounty IS NOT NULL AND bounty <= slash_amount))
);
CREATE INDEX escrow_disputes_by_state ON escrow_disputes (state, executed);

-- Idempotency keys: the first answer, byte for byte.  status NULL while
-- the first request is in flight (or was cut short by a crash).
CREATE TABLE escrow_idem (
	key text PRIMARY KEY,
	fingerprint bytea NOT NULL,
	status integer,
	ctype text,
	body bytea,
	created_at_s bigint NOT NULL
);

-- The audit log: one hash chain per subject ("job:0x..", "account:0x..").
-- hash = SHA-256(prev_hash || entry), entry the canonical JSON text.
CREATE TABLE escrow_audit (
	seq bigserial PRIMARY KEY,
	subject text NOT NULL,
	idx bigint NOT NULL CHECK (idx >= 1),
	entry text NOT NULL,
	prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
	hash bytea NOT NULL CHECK (octet_length(hash) = 32),
	UNIQUE (subject, idx)
);

CREATE FUNCTION escrow_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'escrow_audit is append-only';
END
$$;
CREATE TRIGGER escrow_audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE
	ON escrow_audit FOR EACH STATEMENT EXECUTE FUNCTION escrow_audit_append_only();
