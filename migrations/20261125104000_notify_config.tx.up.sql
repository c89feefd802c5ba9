-- Group robots and routes configured at run time (GraphQL), beside those of
-- the configuration file. A revision lets the notifier reload on change.
CREATE TABLE notification_channels (
    name            text PRIMARY KEY,
    type            text        NOT NULL,
    webhook_url     text        NOT NULL,
    secret          text        NOT NULL DEFAULT '',
    mentions        text[]      NOT NULL DEFAULT '{}',
    mention_mobiles text[]      NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
--bun:split
CREATE TABLE notification_routes (
    id            bigserial PRIMARY KEY,
    channel       text        NOT NULL REFERENCES notification_channels (name) ON DELETE CASCADE,
    min_severity  text        NOT NULL DEFAULT '',
    kinds         text[]      NOT NULL DEFAULT '{}',
    scopes        text[]      NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL
);
--bun:split
CREATE TABLE notification_revision (id boolean PRIMARY KEY DEFAULT true CHECK (id), revision bigint NOT NULL);
--bun:split
INSERT INTO notification_revision (revision) VALUES (0);
