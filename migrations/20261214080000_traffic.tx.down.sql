DROP TABLE IF EXISTS traffic_rollups;
