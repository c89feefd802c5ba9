CREATE INDEX IF NOT EXISTS orders_tagged ON orders (created_at) WHERE tags <> '{}';
--bun:split
DROP INDEX IF EXISTS orders_tagged_created;
