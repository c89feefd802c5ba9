-- Editable rules: the current definition, every version kept with who and
-- when, and a revision every node watches to reload without a restart.
CREATE TABLE rules (
    name        text PRIMARY KEY,
    version     integer     NOT NULL,
    definition  jsonb       NOT NULL,
    enabled     boolean     NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL
);
--bun:split
CREATE TABLE rule_versions (
    name        text        NOT NULL,
    version     integer     NOT NULL,
    definition  jsonb       NOT NULL,
    enabled     boolean     NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    PRIMARY KEY (name, version)
);
--bun:split
CREATE TABLE rules_revision (id boolean PRIMARY KEY DEFAULT true CHECK (id), revision bigint NOT NULL);
--bun:split
INSERT INTO rules_revision (revision) VALUES (0);
--bun:split
-- Hits and run-time errors per rule per hour, for the dashboards.
CREATE TABLE rule_hits (
    rule    text        NOT NULL,
    hour    timestamptz NOT NULL,
    hits    bigint      NOT NULL DEFAULT 0,
    errors  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, hour)
);
--bun:split
-- Alerts: at most one open alert per rule and order.
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    rule             text        NOT NULL,
    kind             text        NOT NULL,
    severity         text        NOT NULL,
    state            text        NOT NULL,
    channel          text        NOT NULL,
    order_no         text        NOT NULL,
    scope            text        NOT NULL DEFAULT '',
    summary          text        NOT NULL DEFAULT '',
    condition_since  timestamptz NOT NULL,
    raised_at        timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    updated_at       timestamptz NOT NULL
);
--bun:split
CREATE UNIQUE INDEX alerts_open ON alerts (rule, channel, order_no) WHERE state <> 'RESOLVED';
--bun:split
CREATE INDEX alerts_raised ON alerts (raised_at DESC, id DESC);
--bun:split
CREATE INDEX alerts_order ON alerts (channel, order_no);
--bun:split
-- Work queues: tagged orders waiting for people.
CREATE TABLE work_items (
    id          bigserial PRIMARY KEY,
    queue       text        NOT NULL,
    channel     text        NOT NULL,
    order_no    text        NOT NULL,
    rule        text        NOT NULL,
    status      text        NOT NULL,
    assignee    text,
    notes       jsonb       NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
--bun:split
CREATE UNIQUE INDEX work_items_open ON work_items (queue, channel, order_no) WHERE status <> 'resolved';
--bun:split
CREATE INDEX work_items_queue ON work_items (queue, status, created_at DESC);
--bun:split
-- Stateful features: recent orders by IP, phone, address and
-- phone+address+item, for sliding-window counts.
CREATE TABLE feature_marks (
    kind      text        NOT NULL,
    value     text        NOT NULL,
    channel   text        NOT NULL,
    order_no  text        NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (kind, value, channel, order_no)
);
--bun:split
CREATE INDEX feature_marks_window ON feature_marks (kind, value, at);
--bun:split
-- Running order-amount statistics per buyer and per shop (history means).
CREATE TABLE amount_stats (
    scope   text   PRIMARY KEY,
    orders  bigint NOT NULL,
    total   bigint NOT NULL
);
--bun:split
CREATE TABLE silences (
    id          bigserial PRIMARY KEY,
    rule        text        NOT NULL DEFAULT '',
    scope       text        NOT NULL DEFAULT '',
    until       timestamptz NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL
);
