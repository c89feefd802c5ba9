-- Refused deliveries are pruned by age; verified ones are kept.
CREATE INDEX webhook_deliveries_refused_received ON webhook_deliveries (received_at) WHERE NOT verified;
