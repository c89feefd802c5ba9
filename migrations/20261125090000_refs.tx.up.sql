-- Items of a delivery that were stored but could not be mapped (unknown
-- tag, bad field), for audit and the IT view.
ALTER TABLE webhook_deliveries ADD COLUMN flags jsonb;
--bun:split
ALTER TABLE webhook_deliveries ADD COLUMN events_flagged integer NOT NULL DEFAULT 0;
--bun:split
-- Which order a tracking number belongs to, learnt from the twins: courier
-- pushes carry only the tracking number.
CREATE TABLE tracking_numbers (
    tracking_no text PRIMARY KEY,
    channel     text        NOT NULL,
    order_no    text        NOT NULL,
    learnt_at   timestamptz NOT NULL
);
--bun:split
-- Events whose order is not known yet (a courier push before the tracking
-- number, a WMS report before the channel's order). Applied as soon as the
-- order becomes known.
CREATE TABLE parked_events (
    source     text        NOT NULL,
    event_id   text        NOT NULL,
    ref_kind   text        NOT NULL,
    ref_value  text        NOT NULL,
    event      jsonb       NOT NULL,
    reason     text        NOT NULL,
    parked_at  timestamptz NOT NULL,
    PRIMARY KEY (source, event_id)
);
--bun:split
CREATE INDEX parked_events_ref ON parked_events (ref_kind, ref_value);
--bun:split
CREATE INDEX orders_order_no ON orders (order_no);
