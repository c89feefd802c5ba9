DROP TABLE IF EXISTS silences;
--bun:split
DROP TABLE IF EXISTS amount_stats;
--bun:split
DROP TABLE IF EXISTS feature_marks;
--bun:split
DROP TABLE IF EXISTS work_items;
--bun:split
DROP TABLE IF EXISTS alerts;
--bun:split
DROP TABLE IF EXISTS rule_hits;
--bun:split
DROP TABLE IF EXISTS rules_revision;
--bun:split
DROP TABLE IF EXISTS rule_versions;
--bun:split
DROP TABLE IF EXISTS rules;
