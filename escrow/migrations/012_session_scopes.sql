-- 012_session_scopes.sql: a sign-in session may be limited to scopes, as
-- an API key is (docs/api-auth.md, "Scoped sessions"): the ESC_SCOPE_*
-- bits the message asked for as urn:assay:scope:NAME.  0, every
-- session before this migration, is a session not limited: the
-- address's own power.
ALTER TABLE escrow_sessions
	ADD COLUMN scopes integer NOT NULL DEFAULT 0 CHECK (scopes >= 0 AND scopes < 32);
