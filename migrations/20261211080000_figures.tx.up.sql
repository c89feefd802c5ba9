-- Figures rolled up per minute (res 1) and per hour (res 60), per scope, by
-- the projection in the same transaction as the twins (internal/figures):
-- the views read these, never the events. metric and label are
-- domain/figures' names (a histogram bin, a stage, station:X).
CREATE TABLE figure_rollups (
    res        smallint    NOT NULL,
    at         timestamptz NOT NULL,
    channel    text        NOT NULL,
    shop       text        NOT NULL,
    warehouse  text        NOT NULL,
    courier    text        NOT NULL,
    metric     text        NOT NULL,
    label      text        NOT NULL,
    n          bigint      NOT NULL,
    PRIMARY KEY (res, at, channel, shop, warehouse, courier, metric, label)
);
--bun:split
-- What is open now (orders per stage, paid orders still in the warehouse),
-- by the minute it started: the backlog and its age.
CREATE TABLE figure_open (
    channel    text        NOT NULL,
    shop       text        NOT NULL,
    warehouse  text        NOT NULL,
    courier    text        NOT NULL,
    metric     text        NOT NULL,
    label      text        NOT NULL,
    since      timestamptz NOT NULL,
    n          bigint      NOT NULL,
    PRIMARY KEY (channel, shop, warehouse, courier, metric, label, since)
);
--bun:split
-- The definitions and settings the rollups were built with; others are
-- rebuilt from the twins.
CREATE TABLE figure_settings (
    id           boolean     PRIMARY KEY DEFAULT true CHECK (id),
    fingerprint  text        NOT NULL,
    built_at     timestamptz NOT NULL
);
--bun:split
-- Customer-service lookups that found one order: repeated questions.
CREATE TABLE order_lookups (
    id        bigserial   PRIMARY KEY,
    channel   text        NOT NULL,
    order_no  text        NOT NULL,
    at        timestamptz NOT NULL,
    via       text        NOT NULL,
    actor     text        NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX order_lookups_at ON order_lookups (at);
--bun:split
-- The last 4 digits of the receiver's phone, written by the projection
-- (order.Receiver.PhoneTail), for customer-service lookups.
ALTER TABLE orders ADD COLUMN phone_tail text NOT NULL DEFAULT '';
--bun:split
-- Orders projected before the column: the same rule in SQL (separators
-- skipped, 4 digits at the end or nothing).
UPDATE orders o SET phone_tail = t.tail
FROM (
    SELECT id, CASE WHEN p ~ '[0-9]{4}$' THEN right(p, 4) ELSE '' END AS tail
    FROM (SELECT id, regexp_replace(coalesce(twin->'details'->'receiver'->>'phone', ''), '[ ()-]', '', 'g') AS p FROM orders) s
) t
WHERE o.id = t.id AND t.tail <> '';
--bun:split
CREATE INDEX orders_phone_tail ON orders (phone_tail, updated_at DESC) WHERE phone_tail <> '';
--bun:split
-- Orders with tags are a few; the abnormal ratio reads them by creation.
CREATE INDEX orders_tagged ON orders (created_at) WHERE tags <> '{}';
