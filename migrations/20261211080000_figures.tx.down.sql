DROP INDEX IF EXISTS orders_tagged;
--bun:split
DROP INDEX IF EXISTS orders_phone_tail;
--bun:split
ALTER TABLE orders DROP COLUMN IF EXISTS phone_tail;
--bun:split
DROP TABLE IF EXISTS order_lookups;
--bun:split
DROP TABLE IF EXISTS figure_settings;
--bun:split
DROP TABLE IF EXISTS figure_open;
--bun:split
DROP TABLE IF EXISTS figure_rollups;
