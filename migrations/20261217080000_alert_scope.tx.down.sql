DROP INDEX IF EXISTS alerts_detection;
--bun:split
ALTER TABLE alerts DROP COLUMN IF EXISTS shop, DROP COLUMN IF EXISTS warehouse;
--bun:split
CREATE INDEX IF NOT EXISTS alerts_detection ON alerts (raised_at) INCLUDE (condition_since, channel);
