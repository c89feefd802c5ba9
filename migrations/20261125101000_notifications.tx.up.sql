-- One row per robot send attempt (WeCom, DingTalk) and per silenced alert
-- group: what went where, for how many alerts, and how it ended.
CREATE TABLE notification_deliveries (
    id           bigserial PRIMARY KEY,
    channel      text        NOT NULL,
    group_key    text        NOT NULL,
    alert_count  integer     NOT NULL,
    status       text        NOT NULL CHECK (status IN ('sent', 'failed', 'rate_limited', 'silenced')),
    error        text,
    attempt      integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    latency_ms   bigint      NOT NULL DEFAULT 0,
    retry_at     timestamptz
);
--bun:split
CREATE INDEX notification_deliveries_channel_created ON notification_deliveries (channel, created_at DESC);
