DROP TABLE IF EXISTS notification_revision;
--bun:split
DROP TABLE IF EXISTS notification_routes;
--bun:split
DROP TABLE IF EXISTS notification_channels;
