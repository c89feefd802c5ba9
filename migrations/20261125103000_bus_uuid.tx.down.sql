DROP INDEX IF EXISTS watermill_order_events_v1_uuid;
