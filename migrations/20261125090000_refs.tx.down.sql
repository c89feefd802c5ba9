DROP INDEX IF EXISTS orders_order_no;
--bun:split
DROP TABLE IF EXISTS parked_events;
--bun:split
DROP TABLE IF EXISTS tracking_numbers;
--bun:split
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS events_flagged;
--bun:split
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS flags;
