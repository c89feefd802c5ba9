-- Every inbound delivery exactly as received, verified or not, so it can be
-- audited and replayed. Bodies are kept raw (bytea): a signature is over bytes.
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    source           text        NOT NULL,
    delivery_id      text,
    received_at      timestamptz NOT NULL,
    headers          jsonb       NOT NULL DEFAULT '{}',
    body             bytea       NOT NULL,
    verified         boolean     NOT NULL,
    status           smallint    NOT NULL,
    outcome          text        NOT NULL,
    error            text,
    events_accepted  integer     NOT NULL DEFAULT 0,
    events_duplicate integer     NOT NULL DEFAULT 0
);
--bun:split
CREATE INDEX webhook_deliveries_source_received ON webhook_deliveries (source, received_at DESC);
--bun:split
-- One row per accepted delivery id: a repeat of the same id has no second effect.
CREATE TABLE webhook_receipts (
    source       text        NOT NULL,
    delivery_id  text        NOT NULL,
    delivery_pk  bigint      NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
--bun:split
-- Canonical order events; (source, event_id) is the idempotency key.
CREATE TABLE order_events (
    id           bigserial PRIMARY KEY,
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    kind         text        NOT NULL,
    system       text        NOT NULL,
    channel      text        NOT NULL,
    order_no     text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    delivery_pk  bigint,
    recovered    boolean     NOT NULL DEFAULT false,
    data         jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT order_events_source_event UNIQUE (source, event_id)
);
--bun:split
CREATE INDEX order_events_order ON order_events (channel, order_no);
--bun:split
CREATE INDEX order_events_received ON order_events (received_at);
