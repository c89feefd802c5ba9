-- Courier events wait without an order until the projection matches their
-- tracking number; deadline checks look them up by it.
CREATE INDEX order_events_unresolved_tracking ON order_events ((data->>'trackingNo')) WHERE channel = '';
