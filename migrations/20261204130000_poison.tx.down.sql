DROP TABLE IF EXISTS "watermill_offsets_poison_redrive_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_poison_redrive_v1";
--bun:split
DROP INDEX IF EXISTS watermill_poison_v1_parked;
--bun:split
DROP INDEX IF EXISTS watermill_poison_v1_offset;
