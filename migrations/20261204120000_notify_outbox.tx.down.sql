DROP INDEX IF EXISTS notification_deliveries_paused;
--bun:split
ALTER TABLE notification_deliveries DROP COLUMN IF EXISTS cost;
--bun:split
DROP TABLE IF EXISTS notification_outbox;
