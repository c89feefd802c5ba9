DROP TABLE IF EXISTS "watermill_offsets_poison_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_poison_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_offsets_twin_changes_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_twin_changes_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_offsets_order_events_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_order_events_v1";
