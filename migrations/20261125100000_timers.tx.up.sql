-- Durable timers (package timers): deadlines such as "outbound but not
-- collected after 10 minutes". The table is the source of truth; a leader
-- node claims due rows with DELETE ... FOR UPDATE SKIP LOCKED in the same
-- transaction as the handler's effects, so each fires exactly once.
--
-- key is the caller's idempotency key ("rule:outbound_not_collected:tmall/123");
-- scheduling the same key again moves the timer (and gives it a new id).
-- COLLATE "C" makes the unique index byte-ordered, so CancelPrefix is an index
-- range scan, and comparisons are plain memcmp.
--
-- due_at is in the injected (possibly simulated) clock; created_at is the
-- database's wall clock when the row was written, for audit only.
--
-- A handler failure keeps the row with attempts + 1 and retry_at set to a
-- backed-off time; failed timers are retried one per transaction so that one
-- bad timer cannot hold back the others.
--
-- Rows are deleted as they fire: vacuum this queue table early.
CREATE TABLE timers (
    id          bigserial   PRIMARY KEY,
    key         text        COLLATE "C" NOT NULL,
    kind        text        NOT NULL,
    payload     jsonb,
    due_at      timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    retry_at    timestamptz,
    last_error  text,
    CONSTRAINT timers_key UNIQUE (key)
) WITH (autovacuum_vacuum_scale_factor = 0.01);
--bun:split
-- Timers that have not failed, in firing order: what the leader polls.
CREATE INDEX timers_due ON timers (due_at) WHERE attempts = 0;
--bun:split
-- Failed timers awaiting their retry (normally empty).
CREATE INDEX timers_retry ON timers (retry_at) WHERE attempts > 0;
