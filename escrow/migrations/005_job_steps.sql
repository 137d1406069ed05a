-- 005_job_steps.sql: the database enforces the job state machine.
-- escrow/state.c holds the one table of steps; at every start the escrow
-- writes it here (escrow_db_migrate), and this trigger refuses any change
-- of escrow_jobs.state, any new row and any deleted row that is not one
-- of its steps.  'none' stands for "no row" (a job is born from it and an
-- abandoned opening returns to it).  A refusal is SQLSTATE 23514
-- (check_violation) naming the constraint escrow_jobs_follow_steps: a bug
-- in the code, never a client's mistake.

CREATE TABLE escrow_job_steps (
	op text NOT NULL,
	from_state text NOT NULL,
	to_state text NOT NULL,
	PRIMARY KEY (op, from_state)
);
CREATE INDEX escrow_job_steps_by_edge ON escrow_job_steps (from_state, to_state);

CREATE FUNCTION escrow_job_step_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	f text;
	t text;
BEGIN
	IF TG_OP = 'INSERT' THEN
		f := 'none';
		t := NEW.state;
	ELSIF TG_OP = 'DELETE' THEN
		f := OLD.state;
		t := 'none';
	ELSE
		f := OLD.state;
		t := NEW.state;
	END IF;
	IF f IS DISTINCT FROM t AND NOT EXISTS (SELECT 1 FROM escrow_job_steps s
			WHERE s.from_state = f AND s.to_state = t) THEN
		RAISE EXCEPTION 'escrow_jobs: no step leads from % to %', f, t
			USING ERRCODE = 'check_violation', CONSTRAINT = 'escrow_jobs_follow_steps';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER escrow_jobs_follow_steps
	BEFORE INSERT OR DELETE OR UPDATE OF state ON escrow_jobs
	FOR EACH ROW EXECUTE FUNCTION escrow_job_step_check();
