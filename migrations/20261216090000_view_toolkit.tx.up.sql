-- The view toolkit: each person's time zone, and what the drill-down from
-- a figure to its orders (and the CSV export) filters on, as indexed
-- columns of the orders read model, so neither scans the event table.
--
-- A user's time zone ('' = the configured business zone, figures.time_zone).
ALTER TABLE users ADD COLUMN time_zone text NOT NULL DEFAULT '';
--bun:split
-- RFC 3339 text (as the twins hold deadlines) to timestamptz. The cast is
-- only STABLE in general (a text without an offset reads in the session's
-- zone); the twins' times always carry their offset, so it is immutable for
-- them, which a generated column needs.
CREATE FUNCTION tower_rfc3339(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
    AS $$ SELECT t::timestamptz $$;
--bun:split
-- The shop and the ship-by deadline, computed by PostgreSQL from the twin
-- (the projection writes nothing new), like orders.warehouse.
ALTER TABLE orders
    ADD COLUMN shop text GENERATED ALWAYS AS (twin->'details'->>'shop') STORED,
    ADD COLUMN ship_by timestamptz GENERATED ALWAYS AS (tower_rfc3339(twin->'details'->>'shipBy')) STORED;
--bun:split
CREATE INDEX orders_shop_updated ON orders (shop, updated_at DESC, id DESC);
--bun:split
-- Late shipments: orders by their ship-by deadline.
CREATE INDEX orders_ship_by ON orders (ship_by) WHERE ship_by IS NOT NULL;
--bun:split
-- Orders created in a window (the drill-down of the window's orders).
CREATE INDEX orders_created ON orders (created_at);
--bun:split
-- Alerts raised in a window by rule: the top causes of exceptions.
CREATE INDEX alerts_raised_rule ON alerts (raised_at, rule);
