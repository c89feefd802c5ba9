-- The projection reads ahead of the message it was handed (see
-- projection.Twins.Handle): it finds that message's position by uuid.
CREATE INDEX watermill_order_events_v1_uuid ON "watermill_order_events_v1" (uuid);
