-- 010_registry.sql: the approved registry of providers (docs/escrow.md,
-- "Approved registry"; escrow/registry_state.c, escrow/api_registry.c).
--
-- One row per provider an operator has decided about: the status the
-- last decision left (approved, suspended or revoked; "expired" is an
-- approved row whose expires_s has passed, never stored), the
-- organisation, contact and expiry of the last approval (a suspension
-- keeps them, so that the row still says who the provider is), and the
-- last decision itself: its nonce, when it was recorded, its signer and
-- the signed ProviderDecision as canonical JSON with its signature, so
-- that anyone can check it again.  Every decision is also an audit entry
-- on the provider's account chain.  Nothing here touches money.
--
-- escrow/registry_state.c holds the transitions; this table keeps what
-- is cheap to keep here too: a revoked row is final (no UPDATE, no
-- DELETE) and a row's nonce only rises.  A refusal is SQLSTATE 23514
-- naming escrow_registry_rules: a bug in the code, never a client's
-- mistake.

CREATE TABLE escrow_registry (
	provider bytea PRIMARY KEY CHECK (octet_length(provider) = 20),
	status text NOT NULL CHECK (status IN ('approved', 'suspended', 'revoked')),
	organisation text NOT NULL CHECK (octet_length(organisation) <= 128),
	contact text NOT NULL CHECK (octet_length(contact) <= 256),
	expires_s bigint NOT NULL CHECK (expires_s >= 0),
	nonce bigint NOT NULL CHECK (nonce > 0),
	updated_at_s bigint NOT NULL,
	operator bytea NOT NULL CHECK (octet_length(operator) = 20),
	decision text NOT NULL CHECK (octet_length(decision) <= 2048),
	signature bytea NOT NULL CHECK (octet_length(signature) = 65),
	CONSTRAINT escrow_registry_approved_named CHECK (status <> 'approved' OR
		(expires_s > 0 AND organisation <> '' AND contact <> ''))
);

CREATE FUNCTION escrow_registry_rules_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.status = 'revoked' THEN
		RAISE EXCEPTION 'escrow_registry: a revoked provider is final'
			USING ERRCODE = 'check_violation', CONSTRAINT = 'escrow_registry_rules';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF NEW.nonce <= OLD.nonce THEN
		RAISE EXCEPTION 'escrow_registry: nonce % is not above %', NEW.nonce, OLD.nonce
			USING ERRCODE = 'check_violation', CONSTRAINT = 'escrow_registry_rules';
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER escrow_registry_rules
	BEFORE UPDATE OR DELETE ON escrow_registry
	FOR EACH ROW EXECUTE FUNCTION escrow_registry_rules_check();
