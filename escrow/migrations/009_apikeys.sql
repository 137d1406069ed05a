-- 009_apikeys.sql: API keys (escrow/apikey.c, docs/api-auth.md "API
-- keys").
--
-- A row holds the key's public id, its owner, label and scopes, and
-- only an Argon2id hash of the secret with its own random salt and the
-- parameters it was made with (so that they can be raised later without
-- breaking older keys); never the secret.  A key is live while
-- expires_s is ahead and revoked_at_s is NULL.  create_idem is the
-- Idempotency-Key of the signed request that made the key: a replay of
-- that request is refused rather than answered with a second secret.
-- last_used_at_s is written at most once a minute per key.

CREATE TABLE escrow_apikeys (
	id text PRIMARY KEY CHECK (id ~ '^ak_[0-9a-f]{16}$'),
	address bytea NOT NULL CHECK (octet_length(address) = 20),
	label text NOT NULL CHECK (octet_length(label) <= 64),
	scopes integer NOT NULL CHECK (scopes > 0 AND scopes < 64),
	salt bytea NOT NULL CHECK (octet_length(salt) = 16),
	hash bytea NOT NULL CHECK (octet_length(hash) = 32),
	t_cost integer NOT NULL CHECK (t_cost > 0),
	m_cost_kib integer NOT NULL CHECK (m_cost_kib > 0),
	parallelism integer NOT NULL CHECK (parallelism > 0),
	created_at_s bigint NOT NULL,
	expires_s bigint NOT NULL CHECK (expires_s > created_at_s),
	last_used_at_s bigint,
	revoked_at_s bigint,
	create_idem text NOT NULL,
	UNIQUE (address, create_idem)
);
CREATE INDEX escrow_apikeys_by_address ON escrow_apikeys (address);

-- Stores one key unless its owner already holds max_live live keys:
-- under the owner's transaction-level advisory lock, so that two
-- concurrent creations cannot both pass the count (a function, like
-- those of 008, so that the count after the lock wait sees what the
-- lock's holder committed).  Returns false when the owner is full.
CREATE FUNCTION escrow_apikey_put(k_id text, k_address bytea, k_label text, k_scopes integer,
				  k_salt bytea, k_hash bytea, k_t integer, k_m integer, k_p integer,
				  now_s bigint, k_expires bigint, k_idem text, max_live integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended(encode(k_address, 'hex'), 7));
	IF (SELECT count(*) FROM escrow_apikeys WHERE address = k_address
	    AND revoked_at_s IS NULL AND expires_s > now_s) >= max_live THEN
		RETURN false;
	END IF;
	INSERT INTO escrow_apikeys (id, address, label, scopes, salt, hash, t_cost,
		m_cost_kib, parallelism, created_at_s, expires_s, create_idem)
		VALUES (k_id, k_address, k_label, k_scopes, k_salt, k_hash, k_t, k_m, k_p,
			now_s, k_expires, k_idem);
	RETURN true;
END
$$;
