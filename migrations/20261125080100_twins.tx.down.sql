DROP TABLE IF EXISTS stage_counts;
--bun:split
DROP TABLE IF EXISTS orders;
