DROP TABLE IF EXISTS order_events;
--bun:split
DROP TABLE IF EXISTS webhook_receipts;
--bun:split
DROP TABLE IF EXISTS webhook_deliveries;
