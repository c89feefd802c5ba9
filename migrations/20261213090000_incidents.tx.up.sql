-- Incidents: alerts sharing one cause (one warehouse's courier stopped
-- collecting, one connector failing its signatures, one channel silent)
-- grouped into one, with its blast radius. Written only by
-- internal/incidents; the alerts stay one per order underneath and point
-- to their incident.
CREATE TABLE incidents (
    id               bigserial PRIMARY KEY,
    cause            text        NOT NULL,
    cause_key        text        NOT NULL,
    warehouse        text        NOT NULL DEFAULT '',
    state            text        NOT NULL CHECK (state IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED')),
    severity         text        NOT NULL DEFAULT 'warning',
    started_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL,
    -- Member alerts, or for a signal (signatures, silence) what was observed.
    members          integer     NOT NULL DEFAULT 0,
    orders           integer     NOT NULL DEFAULT 0,
    money            bigint      NOT NULL DEFAULT 0,
    shops            text[]      NOT NULL DEFAULT '{}',
    channels         text[]      NOT NULL DEFAULT '{}',
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    updated_at       timestamptz NOT NULL
);
--bun:split
CREATE INDEX incidents_key ON incidents (cause, cause_key, state);
--bun:split
CREATE INDEX incidents_started ON incidents (started_at DESC, id DESC);
--bun:split
-- Every alert of a kind an incident may group, with the facts of its order
-- the blast radius needs; incident_id is set once it belongs to one.
CREATE TABLE incident_members (
    alert_id     bigint      PRIMARY KEY,
    cause        text        NOT NULL,
    cause_key    text        NOT NULL,
    incident_id  bigint      REFERENCES incidents (id) ON DELETE SET NULL,
    kind         text        NOT NULL,
    severity     text        NOT NULL DEFAULT '',
    channel      text        NOT NULL,
    order_no     text        NOT NULL,
    shop         text        NOT NULL DEFAULT '',
    warehouse    text        NOT NULL DEFAULT '',
    courier      text        NOT NULL DEFAULT '',
    amount       bigint      NOT NULL DEFAULT 0,
    raised_at    timestamptz NOT NULL,
    resolved_at  timestamptz
);
--bun:split
CREATE INDEX incident_members_key ON incident_members (cause, cause_key, raised_at);
--bun:split
CREATE INDEX incident_members_incident ON incident_members (incident_id, raised_at DESC, alert_id DESC) WHERE incident_id IS NOT NULL;
--bun:split
ALTER TABLE alerts ADD COLUMN incident_id bigint;
--bun:split
CREATE INDEX alerts_incident ON alerts (incident_id) WHERE incident_id IS NOT NULL;
--bun:split
-- One robot message per incident (on open, on resolve) instead of one per
-- member alert: member alerts still waiting are folded into it.
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_purpose_check;
--bun:split
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_purpose_check CHECK (purpose IN ('alert', 'escalation', 'incident'));
--bun:split
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_state_check;
--bun:split
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'silenced', 'cancelled', 'folded'));
--bun:split
ALTER TABLE notification_outbox ADD COLUMN incident_id bigint;
--bun:split
ALTER TABLE notification_outbox ADD COLUMN incident_event text NOT NULL DEFAULT '';
--bun:split
ALTER TABLE notification_outbox ADD COLUMN body text NOT NULL DEFAULT '';
--bun:split
CREATE UNIQUE INDEX notification_outbox_incident ON notification_outbox (incident_id, incident_event, channel) WHERE incident_id IS NOT NULL;
--bun:split
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
--bun:split
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
    CHECK (status IN ('sent', 'failed', 'rate_limited', 'silenced', 'folded'));
--bun:split
-- Watermill SQL Pub/Sub tables of the incidents topic (internal/incidents publishes, the notifier and the live views read) (see the bus migration).
CREATE TABLE "watermill_incidents_v1" (
    "offset" BIGSERIAL,
    "uuid" VARCHAR(36) NOT NULL,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSON DEFAULT NULL,
    "metadata" JSON DEFAULT NULL,
    "transaction_id" xid8 NOT NULL,
    PRIMARY KEY ("transaction_id", "offset")
);
--bun:split
CREATE TABLE "watermill_offsets_incidents_v1" (
    consumer_group VARCHAR(255) NOT NULL,
    offset_acked BIGINT,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY(consumer_group)
);
