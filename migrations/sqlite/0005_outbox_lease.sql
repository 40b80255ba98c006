-- A claim on a send id is a lease: a process that dies while submitting leaves a row that the
-- sweeper recovers once the lease has run out, so no send id is stuck for ever.
ALTER TABLE outbox ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
