DROP INDEX IF EXISTS webhook_deliveries_refused_received;
