-- The poison queue is read and resolved in place (events.PoisonQueue): by
-- id, and counted by what is still parked.
CREATE INDEX watermill_poison_v1_offset ON "watermill_poison_v1" ("offset");
--bun:split
CREATE INDEX watermill_poison_v1_parked ON "watermill_poison_v1"
    ((coalesce(metadata->>'origin_topic', metadata->>'topic_poisoned')))
    WHERE metadata->>'resolution' IS NULL;
--bun:split
-- Watermill SQL Pub/Sub tables of the topic retried messages travel on
-- (see the bus migration).
CREATE TABLE "watermill_poison_redrive_v1" (
    "offset" BIGSERIAL,
    "uuid" VARCHAR(36) NOT NULL,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSON DEFAULT NULL,
    "metadata" JSON DEFAULT NULL,
    "transaction_id" xid8 NOT NULL,
    PRIMARY KEY ("transaction_id", "offset")
);
--bun:split
CREATE TABLE "watermill_offsets_poison_redrive_v1" (
    consumer_group VARCHAR(255) NOT NULL,
    offset_acked BIGINT,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY(consumer_group)
);
