-- 002_ops.sql: operation ids, so that an account movement (faucet,
-- withdraw, stake, unstake, unbond) asked for twice under one id moves
-- money once (chain.h, "Operation ids").  The row commits in the same
-- transaction as the movement: the movement happened exactly when its
-- row exists.

CREATE TABLE ledger_ops (
	op bytea PRIMARY KEY CHECK (octet_length(op) = 32),
	kind text NOT NULL CHECK (kind IN ('deposit', 'withdraw', 'stake', 'unstake', 'unbond')),
	who bytea NOT NULL CHECK (octet_length(who) = 20),
	amount numeric(78,0) NOT NULL CHECK (amount >= 0),
	at_s bigint NOT NULL CHECK (at_s >= 0)
);
