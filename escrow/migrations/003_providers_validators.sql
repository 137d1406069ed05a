-- 003_providers_validators.sql: provider registration, validator seed
-- commitments, and withholding reports beside fraud claims
-- (docs/escrow.md, "Providers and validators").
--
-- A provider's row is its current base URL (a provider may move: the
-- row is replaced).  The referee fetches a disputed job's input there.

CREATE TABLE escrow_providers (
	address bytea PRIMARY KEY CHECK (octet_length(address) = 20),
	url text NOT NULL CHECK (octet_length(url) BETWEEN 8 AND 256),
	registered_at_s bigint NOT NULL
);

-- Seed commitments, oldest first per validator: keccak256(seed) when
-- committed, the seed itself once revealed.  At most one unrevealed
-- commitment per validator (the partial unique index): a second commit
-- before the reveal is refused, so a validator cannot pick among seeds
-- after seeing receipts.
CREATE TABLE escrow_seed_commitments (
	seq bigserial PRIMARY KEY,
	validator bytea NOT NULL CHECK (octet_length(validator) = 20),
	commitment bytea NOT NULL CHECK (octet_length(commitment) = 32),
	committed_at_s bigint NOT NULL,
	seed bytea CHECK (seed IS NULL OR octet_length(seed) = 32),
	revealed_at_s bigint,
	CONSTRAINT escrow_seed_revealed CHECK ((seed IS NULL) = (revealed_at_s IS NULL))
);
CREATE UNIQUE INDEX escrow_seed_one_open ON escrow_seed_commitments (validator)
	WHERE seed IS NULL;
CREATE INDEX escrow_seed_by_validator ON escrow_seed_commitments (validator, seq);

-- A dispute is now of one of two kinds: `fraud` (a verdict-2
-- attestation, as before: it references its attestation) or `withheld`
-- (a staked validator reports that the provider does not serve the
-- input; no attestation).  A validator may hold one of each on a job.
-- A withholding report that the referee finds answered (the input
-- arrives and the receipt's output is right) closes `input_recovered`:
-- nobody is slashed, since a report of withholding cannot be proven
-- false.  `evidence` is the verified inclusion proof a fraud claim may
-- carry (chunk index, leaf hash, audit path; never the chunk's bytes).
ALTER TABLE escrow_disputes
	ADD COLUMN kind text NOT NULL DEFAULT 'fraud' CHECK (kind IN ('fraud', 'withheld')),
	ADD COLUMN evidence text,
	ADD COLUMN att_validator bytea
		GENERATED ALWAYS AS (CASE WHEN kind = 'fraud' THEN validator END) STORED;
ALTER TABLE escrow_disputes DROP CONSTRAINT escrow_disputes_job_validator_fkey;
ALTER TABLE escrow_disputes DROP CONSTRAINT escrow_disputes_pkey;
ALTER TABLE escrow_disputes ADD PRIMARY KEY (job, validator, kind);
ALTER TABLE escrow_disputes ADD CONSTRAINT escrow_disputes_job_fkey
	FOREIGN KEY (job) REFERENCES escrow_jobs (id);
-- Fraud claims still reference their attestation (NULL for withheld rows,
-- which MATCH SIMPLE leaves unchecked).
ALTER TABLE escrow_disputes ADD CONSTRAINT escrow_disputes_attestation_fkey
	FOREIGN KEY (job, att_validator) REFERENCES escrow_attestations (job, validator);
ALTER TABLE escrow_disputes DROP CONSTRAINT escrow_disputes_state_check;
ALTER TABLE escrow_disputes ADD CONSTRAINT escrow_disputes_state_check
	CHECK (state IN ('open', 'provider_wrong', 'validator_wrong', 'moot', 'input_recovered'));
ALTER TABLE escrow_disputes ADD CONSTRAINT escrow_disputes_kind_outcome
	CHECK ((kind = 'fraud' AND state <> 'input_recovered') OR
	       (kind = 'withheld' AND state <> 'validator_wrong'));
ALTER TABLE escrow_disputes ADD CONSTRAINT escrow_disputes_evidence_fraud
	CHECK (evidence IS NULL OR kind = 'fraud');
