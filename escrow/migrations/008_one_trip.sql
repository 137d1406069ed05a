-- 008_one_trip.sql: two steps that took three round trips each take one
-- (docs/benchmarks.md, "escrow": the cost of a request is the number of
-- statements it sends).  Each is a function so that its statements run
-- one after the other with a fresh snapshot each (READ COMMITTED): a read
-- after a lock wait sees what the lock's holder committed.

-- Appends one entry to subject's audit chain (escrow/db.c,
-- escrow_db_audit): under the subject's transaction-level lock, the next
-- index after the head, entry = head_text || index || tail_text (the
-- canonical JSON with its "index" value cut out: keys sorted, "index"
-- followed by "subject", all ASCII), hash = SHA-256(prev_hash || entry),
-- prev_hash 32 zero bytes for the first entry.  Returns the new index.
CREATE FUNCTION escrow_audit_append(subj text, head_text text, tail_text text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
	n bigint := 1;
	e text;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended(subj, 0));
	SELECT idx + 1, hash INTO n, prev FROM escrow_audit WHERE subject = subj
		ORDER BY idx DESC LIMIT 1;
	IF NOT FOUND THEN
		n := 1;
		prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
	END IF;
	e := head_text || n::text || tail_text;
	INSERT INTO escrow_audit (subject, idx, entry, prev_hash, hash)
		VALUES (subj, n, e, prev, sha256(prev || convert_to(e, 'UTF8')));
	RETURN n;
END
$$;

-- The start of a request under an Idempotency-Key (escrow/db.c,
-- escrow_db_idem_begin): takes the key's session-level advisory lock
-- (held until escrow_db_idem_unlock), then returns the key's record, or
-- records the request's fingerprint and returns fresh = true.  A
-- session-level lock outlives the failure of the statement that took it,
-- so a failure after the lock (a full disk refusing the INSERT) releases
-- it before the error goes on: an error means no lock is held.
CREATE FUNCTION escrow_idem_begin(lock_key bigint, k text, fp bytea, now_s bigint)
RETURNS TABLE (fresh boolean, fingerprint bytea, status integer, ctype text, body bytea)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_lock(lock_key);
	BEGIN
		RETURN QUERY SELECT false, i.fingerprint, i.status, i.ctype, i.body
			FROM escrow_idem i WHERE i.key = k;
		IF NOT FOUND THEN
			INSERT INTO escrow_idem (key, fingerprint, created_at_s)
				VALUES (k, fp, now_s);
			RETURN QUERY SELECT true, fp, NULL::integer, NULL::text, NULL::bytea;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		PERFORM pg_advisory_unlock(lock_key);
		RAISE;
	END;
END
$$;
