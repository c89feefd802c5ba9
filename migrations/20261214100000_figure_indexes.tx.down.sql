DROP INDEX IF EXISTS alerts_detection;
--bun:split
DROP INDEX IF EXISTS orders_tagged_created;
--bun:split
CREATE INDEX IF NOT EXISTS orders_tagged_created ON orders (created_at) INCLUDE (tags) WHERE tags <> '{}';
