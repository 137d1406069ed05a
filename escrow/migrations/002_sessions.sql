-- 002_sessions.sql: Sign-In with Ethereum nonces and bearer sessions
-- (httpd/siwe.c, docs/api-auth.md).
--
-- A nonce row exists from GET /v1/auth/nonce until its first use or its
-- expiry: consuming it is a DELETE, so a second use finds nothing.
-- A session row holds only SHA-256 of the token, never the token; it is
-- live while expires_s is ahead and revoked_at_s is NULL.  Expired and
-- revoked rows are pruned at the next sign-in.

CREATE TABLE escrow_siwe_nonces (
	nonce text PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9]{8,64}$'),
	issued_at_s bigint NOT NULL,
	expires_s bigint NOT NULL CHECK (expires_s > issued_at_s)
);
CREATE INDEX escrow_siwe_nonces_by_expiry ON escrow_siwe_nonces (expires_s);

CREATE TABLE escrow_sessions (
	token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
	address bytea NOT NULL CHECK (octet_length(address) = 20),
	role text NOT NULL CHECK (role IN ('customer', 'provider', 'validator', 'operator')),
	created_at_s bigint NOT NULL,
	expires_s bigint NOT NULL CHECK (expires_s > created_at_s),
	revoked_at_s bigint
);
CREATE INDEX escrow_sessions_by_address ON escrow_sessions (address);
CREATE INDEX escrow_sessions_by_expiry ON escrow_sessions (expires_s);
