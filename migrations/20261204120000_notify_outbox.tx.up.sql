-- Notifications on their way to the robots, durably: one row per alert and
-- channel (purpose alert) and per escalation of a critical alert (purpose
-- escalation). The alerts-topic handler inserts rows, idempotently by
-- (alert_id, channel, purpose), so a redelivered bus message adds nothing;
-- each node's sender claims due rows and marks them in the transaction that
-- claimed them. due_at is when a row may go: the end of its group window,
-- the escalation's time, or the next retry. A cancelled row without a
-- group_key is an acknowledgement that arrived before its escalation.
CREATE TABLE notification_outbox (
    id           bigserial PRIMARY KEY,
    channel      text        NOT NULL,
    purpose      text        NOT NULL CHECK (purpose IN ('alert', 'escalation')),
    alert_id     bigint,
    group_key    text        NOT NULL DEFAULT '',
    rule         text        NOT NULL DEFAULT '',
    kind         text        NOT NULL DEFAULT '',
    severity     text        NOT NULL DEFAULT '',
    order_ref    text        NOT NULL DEFAULT '',
    scope        text        NOT NULL DEFAULT '',
    summary      text        NOT NULL DEFAULT '',
    link         text        NOT NULL DEFAULT '',
    raised_at    timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'silenced', 'cancelled')),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    done_at      timestamptz
);
--bun:split
CREATE UNIQUE INDEX notification_outbox_alert ON notification_outbox (alert_id, channel, purpose);
--bun:split
CREATE INDEX notification_outbox_due ON notification_outbox (channel, due_at) WHERE state = 'pending';
--bun:split
-- The open group window a new row joins: one index probe per row, even
-- with thousands of rows waiting.
CREATE INDEX notification_outbox_window ON notification_outbox (channel, group_key, due_at) WHERE state = 'pending' AND attempts = 0;
--bun:split
CREATE INDEX notification_outbox_done ON notification_outbox (done_at) WHERE state <> 'pending';
--bun:split
-- Robot rate slots a send attempt took (WeCom mobile mentions take two):
-- every node reads them to keep a robot within its per-minute limit.
ALTER TABLE notification_deliveries ADD COLUMN cost integer NOT NULL DEFAULT 1;
--bun:split
-- A robot's rate-limit pause: the latest retry_at it asked for.
CREATE INDEX notification_deliveries_paused ON notification_deliveries (channel, retry_at) WHERE status = 'rate_limited';
