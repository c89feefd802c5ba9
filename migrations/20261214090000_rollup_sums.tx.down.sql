DROP INDEX IF EXISTS figure_rollups_summed;
