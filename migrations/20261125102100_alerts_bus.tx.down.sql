DROP TABLE IF EXISTS "watermill_offsets_alerts_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_alerts_v1";
