DROP INDEX IF EXISTS alerts_raised_rule;
--bun:split
DROP INDEX IF EXISTS orders_created;
--bun:split
DROP INDEX IF EXISTS orders_ship_by;
--bun:split
DROP INDEX IF EXISTS orders_shop_updated;
--bun:split
ALTER TABLE orders DROP COLUMN IF EXISTS ship_by, DROP COLUMN IF EXISTS shop;
--bun:split
DROP FUNCTION IF EXISTS tower_rfc3339(text);
--bun:split
ALTER TABLE users DROP COLUMN IF EXISTS time_zone;
