DROP TABLE IF EXISTS deadline_overrides;
