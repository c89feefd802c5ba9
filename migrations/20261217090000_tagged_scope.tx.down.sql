DROP INDEX IF EXISTS orders_tagged_created;
--bun:split
CREATE INDEX orders_tagged_created ON orders (created_at) INCLUDE (tags, id) WHERE tags <> '{}';
