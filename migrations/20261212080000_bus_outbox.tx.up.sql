-- The outbox of the NATS JetStream bus (events.NATSBus): PublishTx writes
-- here inside the caller's transaction, and a forwarder on every node moves
-- the rows to JetStream after commit, one partition at a time under an
-- advisory lock, deleting what the broker acknowledged. A payload too large
-- for the broker stays here (forwarded_at set) and travels by reference.
-- Empty on the PostgreSQL bus.
CREATE TABLE bus_outbox (
    id bigserial PRIMARY KEY,
    subject text NOT NULL,
    partition int NOT NULL,
    uuid text NOT NULL,
    payload bytea NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    forwarded_at timestamptz
);
--bun:split
CREATE INDEX bus_outbox_pending ON bus_outbox (partition, id) WHERE forwarded_at IS NULL;
