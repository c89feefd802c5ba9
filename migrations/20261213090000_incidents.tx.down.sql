DROP TABLE IF EXISTS "watermill_offsets_incidents_v1";
--bun:split
DROP TABLE IF EXISTS "watermill_incidents_v1";
--bun:split
DELETE FROM notification_deliveries WHERE status = 'folded';
--bun:split
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
--bun:split
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
    CHECK (status IN ('sent', 'failed', 'rate_limited', 'silenced'));
--bun:split
DELETE FROM notification_outbox WHERE purpose = 'incident' OR state = 'folded';
--bun:split
DROP INDEX IF EXISTS notification_outbox_incident;
--bun:split
ALTER TABLE notification_outbox DROP COLUMN IF EXISTS body;
--bun:split
ALTER TABLE notification_outbox DROP COLUMN IF EXISTS incident_event;
--bun:split
ALTER TABLE notification_outbox DROP COLUMN IF EXISTS incident_id;
--bun:split
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_state_check;
--bun:split
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'silenced', 'cancelled'));
--bun:split
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_purpose_check;
--bun:split
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_purpose_check CHECK (purpose IN ('alert', 'escalation'));
--bun:split
DROP INDEX IF EXISTS alerts_incident;
--bun:split
ALTER TABLE alerts DROP COLUMN IF EXISTS incident_id;
--bun:split
DROP TABLE IF EXISTS incident_members;
--bun:split
DROP TABLE IF EXISTS incidents;
