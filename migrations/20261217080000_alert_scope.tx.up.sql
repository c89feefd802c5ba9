-- The order's shop and warehouse on its alerts: figures over one shop or
-- warehouse then read the window's alerts alone, where a join to each
-- alert's order cost about 90 ms for a week at a million orders. Raising
-- copies them from the order; the projection keeps them current.
ALTER TABLE alerts ADD COLUMN shop text NOT NULL DEFAULT '', ADD COLUMN warehouse text NOT NULL DEFAULT '';
--bun:split
UPDATE alerts a SET shop = coalesce(o.shop, ''), warehouse = coalesce(o.warehouse, '')
FROM orders o WHERE o.channel = a.channel AND o.order_no = a.order_no
    AND (coalesce(o.shop, '') <> '' OR coalesce(o.warehouse, '') <> '');
--bun:split
DROP INDEX IF EXISTS alerts_detection;
--bun:split
CREATE INDEX alerts_detection ON alerts (raised_at) INCLUDE (condition_since, channel, shop, warehouse);
