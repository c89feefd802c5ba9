-- Why Tower switched a rule off by itself (it kept failing); cleared when
-- someone saves or enables it again.
ALTER TABLE rules ADD COLUMN disabled_reason text;
