DROP INDEX IF EXISTS orders_channel_updated;
--bun:split
DROP INDEX IF EXISTS orders_warehouse_updated;
--bun:split
ALTER TABLE orders DROP COLUMN IF EXISTS warehouse;
--bun:split
DROP TABLE IF EXISTS audit_log;
--bun:split
DROP TABLE IF EXISTS api_tokens;
--bun:split
DROP TABLE IF EXISTS sessions;
--bun:split
DROP TABLE IF EXISTS users;
