DROP INDEX IF EXISTS order_events_unresolved_tracking;
