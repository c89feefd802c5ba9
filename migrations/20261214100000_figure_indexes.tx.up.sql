-- The abnormal ratio's tagged orders answered from the index alone (it
-- reads their id, which the previous index lacked, so every tagged order
-- of the window was a heap fetch); the detection times' alerts likewise.
DROP INDEX IF EXISTS orders_tagged_created;
--bun:split
CREATE INDEX IF NOT EXISTS orders_tagged_created ON orders (created_at) INCLUDE (tags, id) WHERE tags <> '{}';
--bun:split
CREATE INDEX IF NOT EXISTS alerts_detection ON alerts (raised_at) INCLUDE (condition_since, channel);
