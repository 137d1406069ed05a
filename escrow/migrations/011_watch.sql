-- 011_watch.sql: the escrow's watch over its parties (docs/operations.md,
-- "Anomalies"; escrow/watch.c).
--
-- escrow_seed_audits: one row per revealed sampling seed, written once by
-- the settler.  The epoch's candidates are the receipts the seed had to
-- decide with the whole challenge window inside the epoch (receipted at
-- or after the commitment, the window closed by the reveal, not settled
-- before its window closed); `selected` of them the rule picked,
-- `kept` of those the validator attested or reported withheld;
-- `unsampled` counts its checks of receipts the rule did not pick.
-- `truncated` when the epoch had more candidates than one audit reads.
CREATE TABLE escrow_seed_audits (
	seq bigint PRIMARY KEY REFERENCES escrow_seed_commitments (seq),
	validator bytea NOT NULL CHECK (octet_length(validator) = 20),
	sample_bps integer NOT NULL CHECK (sample_bps BETWEEN 0 AND 10000),
	candidates bigint NOT NULL CHECK (candidates >= 0),
	selected bigint NOT NULL CHECK (selected BETWEEN 0 AND candidates),
	kept bigint NOT NULL CHECK (kept BETWEEN 0 AND selected),
	unsampled bigint NOT NULL CHECK (unsampled BETWEEN 0 AND candidates - selected),
	truncated boolean NOT NULL,
	audited_at_s bigint NOT NULL
);
CREATE INDEX escrow_seed_audits_by_validator ON escrow_seed_audits (validator, seq);

-- The receipts of an epoch, in the order the audit reads them.
CREATE INDEX escrow_jobs_by_receipted ON escrow_jobs (receipted_at_s, id)
	WHERE receipt_id IS NOT NULL;

-- A provider held from new jobs by the escrow itself: `frauds` proven
-- fraud disputes (distinct jobs) since its last hold was lifted reached
-- --hold-after-frauds.  At most one hold is active per provider; an
-- operator's approve decision lifts it (api_registry.c).
CREATE TABLE escrow_provider_holds (
	seq bigserial PRIMARY KEY,
	provider bytea NOT NULL CHECK (octet_length(provider) = 20),
	reason text NOT NULL CHECK (reason IN ('proven-frauds')),
	frauds bigint NOT NULL CHECK (frauds > 0),
	held_at_s bigint NOT NULL,
	lifted_at_s bigint,
	CONSTRAINT escrow_provider_holds_lift CHECK (lifted_at_s IS NULL OR lifted_at_s >= held_at_s)
);
CREATE UNIQUE INDEX escrow_provider_holds_one_active ON escrow_provider_holds (provider)
	WHERE lifted_at_s IS NULL;
