-- The pre-summed rollup rows (courier '*': domain/figures.Summed) by scope
-- first and time second, so that a week of one scope is one short range of
-- the index instead of every scope's rows of the week filtered.
CREATE INDEX IF NOT EXISTS figure_rollups_summed ON figure_rollups (res, channel, shop, warehouse, at) INCLUDE (metric, label, n) WHERE courier = '*';
