DROP INDEX IF EXISTS orders_channel_stage;
--bun:split
DROP INDEX IF EXISTS orders_warehouse_stage;
--bun:split
CREATE INDEX IF NOT EXISTS orders_phone_tail ON orders (phone_tail, updated_at DESC) WHERE phone_tail <> '';
--bun:split
DROP INDEX IF EXISTS orders_phone_tail_newest;
--bun:split
DROP INDEX IF EXISTS work_items_queue_created;
--bun:split
DROP INDEX IF EXISTS alerts_state_raised;
