-- Indexes a large history needs (measured by `tower bench --scale`).
-- Alerts by state, newest first: the FIRING list reads 50 rows instead of
-- walking every alert raised since the oldest one still firing.
CREATE INDEX IF NOT EXISTS alerts_state_raised ON alerts (state, raised_at DESC, id DESC);
--bun:split
-- A queue's items newest first whatever their status (the list without a
-- status filter), without sorting the whole queue.
CREATE INDEX IF NOT EXISTS work_items_queue_created ON work_items (queue, created_at DESC, id DESC);
--bun:split
-- Phone-tail lookups read the newest orders of a tail in index order and
-- stop at the page size (a tail matches one order in 10,000: thousands in
-- a large history).
CREATE INDEX IF NOT EXISTS orders_phone_tail_newest ON orders (phone_tail, updated_at DESC, id DESC) WHERE phone_tail <> '';
--bun:split
DROP INDEX IF EXISTS orders_phone_tail;
--bun:split
-- A scoped caller's backlog counts its orders per stage from the index
-- alone (an index-only scan instead of reading every twin of the scope).
CREATE INDEX IF NOT EXISTS orders_warehouse_stage ON orders (warehouse, stage);
--bun:split
CREATE INDEX IF NOT EXISTS orders_channel_stage ON orders (channel, stage);
