-- 006_idem_retention.sql: idempotency records expire.  The settling
-- escrow deletes, a batch a tick, every record older than
-- ESCROW_IDEM_RETENTION_S (docs/escrow.md, "Idempotency"); this index
-- finds them without reading the table.

CREATE INDEX escrow_idem_by_age ON escrow_idem (created_at_s);
