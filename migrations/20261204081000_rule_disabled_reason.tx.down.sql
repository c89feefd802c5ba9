ALTER TABLE rules DROP COLUMN IF EXISTS disabled_reason;
