-- 004_uptime.sql: the escrow's heartbeat, so that a challenge window does
-- not close while the escrow could not take claims (docs/escrow.md,
-- "Outages").  One row: the last second the settlement loop saw the
-- database.  After a gap longer than ESCROW_OUTAGE_GAP_S (PostgreSQL or
-- the escrow down), every window still open when the gap began is moved
-- on by the gap.

CREATE TABLE escrow_heartbeat (
	id smallint PRIMARY KEY CHECK (id = 1),
	alive_s bigint NOT NULL CHECK (alive_s >= 0)
);
