-- 007_dispute_steps.sql: the database enforces the dispute state machine
-- as 005 does the job's.  escrow/dispute_state.c holds the table of steps
-- (kind, op, from, to); at every start the escrow writes it here
-- (escrow_db_migrate), and this trigger refuses any new row, change of
-- escrow_disputes.state or deleted row that is not one of the steps of
-- the row's kind.  'none' stands for "no row".  A refusal is SQLSTATE
-- 23514 naming the constraint escrow_disputes_follow_steps: a bug in the
-- code, never a client's mistake.

CREATE TABLE escrow_dispute_steps (
	kind text NOT NULL,
	op text NOT NULL,
	from_state text NOT NULL,
	to_state text NOT NULL,
	PRIMARY KEY (kind, op, from_state)
);
CREATE INDEX escrow_dispute_steps_by_edge ON escrow_dispute_steps (kind, from_state, to_state);

CREATE FUNCTION escrow_dispute_step_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	k text;
	f text;
	t text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		k := NEW.kind;
		f := 'none';
		t := NEW.state;
	ELSIF TG_OP = 'DELETE' THEN
		k := OLD.kind;
		f := OLD.state;
		t := 'none';
	ELSE
		k := NEW.kind;
		f := OLD.state;
		t := NEW.state;
	END IF;
	IF f IS DISTINCT FROM t AND NOT EXISTS (SELECT 1 FROM escrow_dispute_steps s
			WHERE s.kind = k AND s.from_state = f AND s.to_state = t) THEN
		RAISE EXCEPTION 'escrow_disputes: no % step leads from % to %', k, f, t
			USING ERRCODE = 'check_violation', CONSTRAINT = 'escrow_disputes_follow_steps';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER escrow_disputes_follow_steps
	BEFORE INSERT OR DELETE OR UPDATE OF state ON escrow_disputes
	FOR EACH ROW EXECUTE FUNCTION escrow_dispute_step_check();
